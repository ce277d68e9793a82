"""What a platform node remembers between restarts, per task — only what the ledger cannot say.

The ledger is the source of truth for where a task stands (state, recorded results). The
journal keeps what the node made but the ledger does not hold yet: the ciphertext CIDs of the
sealed outputs (age encryption is randomised, so sealing again would make a different CID),
the run record's CID, or the CID of a failure log. Every write is atomic, and each entry is
written *before* the transaction that publishes it, so a node killed anywhere finds, on
restart, either nothing (and runs again: the workflow cache makes that cheap) or exactly the
objects it will record — never a second set.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from eotrust.limits import json_loads
from eotrust.settings import Settings
from eotrust.store.atomic import write_atomic


class SealedResult(BaseModel):
    name: str
    cid: str
    plaintext_cid: str
    size: int
    recipient: str = Field(description="the age recipient it is encrypted for; empty when public")


class TaskJournal(BaseModel):
    address: str
    run_cid: str | None = None
    results: list[SealedResult] = Field(default_factory=list)
    failure_log_cid: str | None = None
    failure_log: SealedResult | None = Field(
        default=None, description="the sealed failure log, recorded in the catalogue"
    )
    failure: str | None = None


class Journal:
    """One JSON file per task under ``<home>/nodes/<platform>/tasks/``."""

    def __init__(self, settings: Settings, platform: str) -> None:
        self.dir = settings.path("nodes", platform, "tasks")

    def _path(self, address: str) -> Path:
        return self.dir / f"{address.lower()}.json"

    def load(self, address: str) -> TaskJournal:
        path = self._path(address)
        if not path.is_file():
            return TaskJournal(address=address)
        return TaskJournal.model_validate(json_loads(path.read_text()))

    def save(self, entry: TaskJournal) -> None:
        write_atomic(self._path(entry.address), entry.model_dump_json(indent=2).encode())
