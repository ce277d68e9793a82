"""The step cache: step key -> output CIDs.

A step's key is the CID of (service CID, input CIDs, parameters, engine version); the same key
means the same result. The index is a SQLite database under ``<home>/workflow/cache`` (WAL
journal: several processes may read and write it at once, and a crashed process never leaves
a half-written entry). Rows are looked up by the SHA-256 of the key's canonical bytes, so a
cache hit costs no CID encoding; the CID itself is kept in the row for run records.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eotrust.cid import canonical_json
from eotrust.limits import json_loads
from eotrust.store.lock import file_lock

ENGINE_VERSION = 1


def key_material(service_cid: str, inputs: dict[str, str | list[str]], params: dict[str, Any]) -> bytes:
    """The canonical bytes a step key names."""
    return canonical_json({"engine": ENGINE_VERSION, "service": service_cid, "inputs": inputs, "params": params})


def step_key(service_cid: str, inputs: dict[str, str | list[str]], params: dict[str, Any]) -> str:
    """The CID naming this exact computation."""
    from eotrust.cid import cid_of_bytes

    return cid_of_bytes(key_material(service_cid, inputs, params))


def lookup_id(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()


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
    sandboxed: bool | None = None  # None: made before the sandbox existed
    network: bool | None = None


class StepCache:
    """Step key -> CacheEntry, in one SQLite file shared by every process of this home."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / "steps.sqlite"
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        # one opener at a time: SQLite answers "database is locked" at once, without waiting, to a
        # connection that asks for WAL while another is switching a new file to it (a sweep's
        # parallel runs open the cache together)
        with file_lock(root / "steps.lock"):
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS steps (lookup TEXT PRIMARY KEY, key TEXT NOT NULL, entry TEXT NOT NULL)"
            )
        self._db.execute("PRAGMA synchronous=NORMAL")

    def get(self, material: bytes) -> CacheEntry | None:
        row = self._db.execute("SELECT entry FROM steps WHERE lookup = ?", (lookup_id(material),)).fetchone()
        if row is None:
            return None
        try:
            return CacheEntry(**json_loads(row[0]))
        except (ValueError, TypeError):
            return None

    def put(self, material: bytes, entry: CacheEntry) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO steps (lookup, key, entry) VALUES (?, ?, ?)",
            (lookup_id(material), entry.key, json.dumps(asdict(entry))),
        )

    def drop(self, material: bytes) -> None:
        self._db.execute("DELETE FROM steps WHERE lookup = ?", (lookup_id(material),))

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM steps").fetchone()[0])

    def close(self) -> None:
        self._db.close()
