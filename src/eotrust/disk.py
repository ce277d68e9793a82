"""The disk a process keeps free: what a remote party makes this machine write (an upload, a
record, a task's decrypted inputs) is refused once it would leave less than the configured
reserve (``Settings.min_free_disk_mb``) on the filesystem of the home — where the chain journal,
the catalogue and the store live — so that no party can fill it."""

from __future__ import annotations

import os
from pathlib import Path

from eotrust.errors import InsufficientStorageError


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged process may still write on ``directory``'s filesystem."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def room_to_decrypt(sizes: list[int]) -> int:
    """Disk that decrypting objects of these ciphertext ``sizes`` and keeping them all takes: a
    plaintext is no larger than its ciphertext, and the largest is written twice while it is
    decrypted and then stored."""
    return sum(sizes) + max(sizes, default=0)


def check_free_disk(directories: list[Path], keep_mb: int, more: int = 0, *, who: str = "the server") -> None:
    """InsufficientStorageError (507 over HTTP) when writing ``more`` bytes more under any of
    ``directories`` would leave less than ``keep_mb`` MiB free on its filesystem."""
    for directory in directories:
        free = free_bytes(directory)
        if free - more < keep_mb * 1024 * 1024:
            need = f"; this needs {more >> 20} MiB" if more >= 1 << 20 else ""
            raise InsufficientStorageError(
                f"{who} is short of disk: {free >> 20} MiB free under {directory.name or directory}, "
                f"and it keeps {keep_mb} MiB free{need}",
                hint="try again later, or ask the server's operator" if who == "the server" else "free some disk",
            )
