"""The one inter-process file lock: an exclusive ``flock`` on a lock file, through the
``filelock`` library. Re-entrant within one thread; other threads and processes wait."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

#: How often a waiter retries a held lock (filelock polls a non-blocking flock).
POLL_S = 0.002


def file_lock(path: Path | str) -> FileLock:
    """A lock on ``path`` (created, mode 0600, left in place): ``with file_lock(p): ...``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, mode=0o600, poll_interval=POLL_S)


@contextmanager
def held_alone(lock: FileLock, pid_path: Path, refused: Callable[[str], Exception]) -> Iterator[bool]:
    """Hold ``lock`` without waiting — one node of a kind per home — re-entrant for its holder;
    yield whether this is the outermost hold. While held, ``pid_path`` names this process. Held
    by another: raise ``refused(holder)``, where ``holder`` is `` (pid N)`` read from
    ``pid_path`` (32 bytes at most, whatever the file holds) or empty."""
    first = not lock.is_locked
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            with open(pid_path, "rb") as f:
                holder = f" (pid {int(f.read(32).strip())})"
        except (OSError, ValueError):
            holder = ""
        raise refused(holder) from None
    try:
        if first:
            pid_path.write_text(f"{os.getpid()}\n")
        yield first
    finally:
        if first:
            pid_path.unlink(missing_ok=True)
        lock.release()
