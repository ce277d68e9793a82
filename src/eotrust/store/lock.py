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


def try_file_lock(path: Path | str) -> FileLock | None:
    """The lock on ``path`` taken now, or None when another holder (a process, or another
    lock object in this one) has it: for "only one of these may run" rather than "wait"."""
    from filelock import Timeout

    lock = file_lock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock
