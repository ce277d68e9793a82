"""The step cache: step key -> output CIDs.

A step's key is the CID of (service CID, input CIDs, parameters, engine version); the same key
means the same result. Entries are small JSON files under ``<home>/workflow/cache``, written
atomically (temporary file + rename) so several processes may share the cache and a crash
never leaves a half-written entry. An entry whose outputs are no longer in the store is a miss.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eotrust.store.base import Store
from eotrust.workflow.service import canonical_json

ENGINE_VERSION = 1


def step_key(service_cid: str, inputs: dict[str, str | list[str]], params: dict[str, Any]) -> str:
    """The CID naming this exact computation."""
    from eotrust.cid import cid_of_bytes

    return cid_of_bytes(canonical_json({
        "engine": ENGINE_VERSION,
        "service": service_cid,
        "inputs": inputs,
        "params": params,
    }))


@dataclass(frozen=True)
class CacheEntry:
    key: str
    service_cid: str
    outputs: dict[str, str]
    stdout_cid: str | None
    stderr_cid: str | None
    exit_status: int | None
    started: float
    ended: float
    host: str


class StepCache:
    """Step key -> CacheEntry, one file per key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key[-2:] / f"{key}.json"

    def get(self, key: str, store: Store) -> CacheEntry | None:
        try:
            data = json.loads(self._path(key).read_text())
            entry = CacheEntry(**data)
        except (OSError, ValueError, TypeError):
            return None
        if not all(store.has(cid) for cid in entry.outputs.values()):
            return None
        return entry

    def put(self, entry: CacheEntry) -> None:
        path = self._path(entry.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(asdict(entry), f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
