"""Reading what a step left in its working directory without following its symlinks.

A hostile step can replace an output, a log or a parent directory with a symlink to a file of
the node (a keystore) and wait for the node to read it into a result. Every path here is
walked from the working directory one component at a time with ``O_NOFOLLOW``, and the last
one must be a regular file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(Exception):
    """The path leaves its root, goes through a symlink, or is not a regular file."""


def _parts(root: Path, path: Path) -> list[str]:
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        raise UnsafePath(f"{path} is outside {root}") from None
    parts = list(rel.parts)
    if not parts or any(p in ("..", ".", "") for p in parts):
        raise UnsafePath(f"{path} is not a file inside {root}")
    return parts


def open_regular(root: Path, path: Path) -> int:
    """A read-only fd of the regular file ``path`` inside ``root``; UnsafePath otherwise."""
    parts = _parts(root, path)
    fd = os.open(root, _DIR)
    try:
        for name in parts[:-1]:
            try:
                nxt = os.open(name, _DIR, dir_fd=fd)
            except OSError as exc:
                raise UnsafePath(f"{path}: {name!r} is not a plain directory ({exc.strerror})") from None
            os.close(fd)
            fd = nxt
        try:
            out = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=fd)
        except OSError as exc:
            raise UnsafePath(f"{path} is not a regular file ({exc.strerror})") from None
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(out).st_mode):
        os.close(out)
        raise UnsafePath(f"{path} is not a regular file")
    return out


def is_regular(root: Path, path: Path) -> bool:
    try:
        os.close(open_regular(root, path))
        return True
    except UnsafePath:
        return False


def read_tail(root: Path, path: Path, n: int = 65536) -> bytes:
    """The last ``n`` bytes of a regular file inside ``root`` (b"" if it is missing or unsafe)."""
    try:
        fd = open_regular(root, path)
    except UnsafePath:
        return b""
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - n))
        return f.read()
