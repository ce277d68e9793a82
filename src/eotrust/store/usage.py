"""What each party has stored through a server: one row per (party, CID) with its size, in a
SQLite file of the server's own home — not the shared catalogue, whose holder could then
shrink or swell another party's count. The server's ``POST /store`` refuses an upload that
would take a party past ``store_max_mb_per_party`` (by its declared length before it is read,
else as it streams); an object a party stores again is counted once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

SCHEMA = "CREATE TABLE IF NOT EXISTS uploads (party TEXT NOT NULL, cid TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (party, cid))"


class StoreUsage:
    """The bytes each party has stored (thread-safe; one connection per call)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def used(self, party: str) -> int:
        """Bytes ``party`` has stored."""
        with self._lock, self._connect() as db:
            row = db.execute("SELECT COALESCE(SUM(size), 0) FROM uploads WHERE party = ?", (party,)).fetchone()
        return int(row[0])

    def add(self, party: str, cid: str, size: int) -> None:
        """Count ``cid`` (``size`` bytes) for ``party``, once."""
        with self._lock, self._connect() as db:
            db.execute("INSERT OR IGNORE INTO uploads (party, cid, size) VALUES (?, ?, ?)", (party, cid, size))
