"""Writing files so that a reader never sees half of one: the bytes go to a temporary file
beside the destination, which is renamed over it only once complete. On any failure the
temporary file is removed and nothing appears under the destination name.

The one home of atomic writes: :func:`write_atomic` (bytes), :func:`atomic_output` (a file
object) and :func:`atomic_path` (a path for libraries that open files themselves)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def temp_name(dest: Path) -> Path:
    """A unique temporary name in ``dest``'s directory (so the final rename is atomic)."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


@contextmanager
def atomic_output(dest: Path, *, durable: bool = False) -> Iterator[BinaryIO]:
    """``with atomic_output(path) as f: f.write(...)`` — ``path`` appears complete or not at all.

    ``durable`` also flushes the file to the disk before the rename (survives power loss).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(dest)
    try:
        with open(tmp, "xb") as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, dest)
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
        os.replace(tmp, dest)
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
