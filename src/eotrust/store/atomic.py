"""Writing files so that a reader never sees half of one: the bytes go to a temporary file
beside the destination, which is renamed over it only once complete. On any failure the
temporary file is removed and nothing appears under the destination name.

The one home of atomic writes: :func:`write_atomic` (bytes), :func:`atomic_output` (a file
object) and :func:`atomic_path` (a path for libraries that open files themselves), and
:func:`place`, which puts a finished temporary file at its destination.

A destination that is a character device or a FIFO (``/dev/null``, ``/dev/stdout``, a pipe) is
written into, as a shell's redirection does, never replaced: renaming over it would swap the
machine's device for a regular file. A block device or a socket is refused."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def is_stream(dest: Path) -> bool:
    """Whether ``dest`` is an existing character device or FIFO, which is written into rather
    than replaced; a block device or a socket raises OSError (never written over)."""
    try:
        mode = os.stat(dest).st_mode
    except OSError:
        return False
    if stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise OSError(errno.EOPNOTSUPP, "a block device or socket is never written over", str(dest))
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def temp_name(dest: Path) -> Path:
    """A unique temporary name in ``dest``'s directory (so the final rename is atomic); in the
    temporary directory when ``dest`` is a device or a pipe (see :func:`place`)."""
    name = f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    return Path(tempfile.gettempdir(), name) if is_stream(dest) else dest.with_name(name)


def place(tmp: Path, dest: Path) -> None:
    """Put the finished temporary file ``tmp`` at ``dest``: renamed over it, or, when ``dest``
    is a device or a pipe, copied into it and removed."""
    if not is_stream(dest):
        os.replace(tmp, dest)
        return
    try:
        with open(tmp, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except OSError as exc:  # a write error names no file: name the destination (/dev/full: disk full)
        raise OSError(exc.errno, exc.strerror, str(dest)) from None
    tmp.unlink()


@contextmanager
def atomic_output(dest: Path, *, durable: bool = False) -> Iterator[BinaryIO]:
    """``with atomic_output(path) as f: f.write(...)`` — ``path`` appears complete or not at all.

    ``durable`` also flushes the file to the disk before the rename (survives power loss).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(dest)
    try:
        handle = open(tmp, "xb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:  # name the destination, not a temporary file the user never named
        raise OSError(exc.errno, exc.strerror, str(dest)) from None
    try:
        with handle as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        place(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(dest: Path | str) -> Iterator[Path]:
    """A temporary path beside ``dest`` to write (with rasterio, zipfile, torch…); renamed
    over ``dest`` when the block completes, removed if it fails: never a half-written file."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(dest)
    try:
        yield tmp
        place(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(dest: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_output(dest, durable=durable) as f:
        f.write(data)


def copy_stream(
    src: BinaryIO, dst: BinaryIO, progress: Callable[[int], None] | None = None, *, piece: int = 1 << 20
) -> int:
    """Copy ``src`` to ``dst`` to the end, reporting each piece's size to ``progress``;
    return the number of bytes copied."""
    total = 0
    while data := src.read(piece):
        dst.write(data)
        total += len(data)
        if progress is not None:
            progress(len(data))
    return total
