"""The one inter-process file lock: an exclusive ``flock`` on a lock file, through the
``filelock`` library. Re-entrant within one thread; other threads and processes wait."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

#: How often a waiter retries a held lock (filelock polls a non-blocking flock).
POLL_S = 0.002


def file_lock(path: Path | str) -> FileLock:
    """A lock on ``path`` (created, mode 0600, left in place): ``with file_lock(p): ...``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, mode=0o600, poll_interval=POLL_S)
