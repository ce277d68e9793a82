"""What a federated node remembers between restarts: per task and round, the CID it made but
the ledger may not hold yet (a sealed update, an aggregate). Written atomically *before* the
transaction that publishes it, so a node killed anywhere publishes, on restart, the same CID —
never a second update or a second aggregate (age encryption is randomised: sealing again
would give another CID)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from eotrust.limits import json_loads
from eotrust.store.atomic import write_atomic


class RoundEntry(BaseModel):
    task: str
    round: int
    role: str
    cid: str
    samples: int = 0
    refused: list[int] = Field(default_factory=list)


class RoundJournal:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, task: str, round_: int, role: str) -> Path:
        return self.dir / f"{task.lower()}-{round_}-{role}.json"

    def load(self, task: str, round_: int, role: str) -> RoundEntry | None:
        path = self._path(task, round_, role)
        if not path.is_file():
            return None
        return RoundEntry.model_validate(json_loads(path.read_text()))

    def save(self, entry: RoundEntry) -> None:
        write_atomic(self._path(entry.task, entry.round, entry.role), entry.model_dump_json().encode(), durable=True)
