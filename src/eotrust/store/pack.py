"""One object, one file: the blocks of an object's DAG and an index of them.

A LocalStore keeps each object as a *pack*, named by the object's CID::

    [block][block]…[block]                  every distinct block of the DAG, once
    [multihash(34) offset(u64) length(u32)]…  the index: where each block is
    [magic(8) count(u64) index_at(u64) size(u64)]   the footer (big-endian)

Why packs and not a file per block (kubo's flatfs): creating a file costs far more than
writing 256 KiB into one, so per-block files cap a put well below hashing speed. A pack is
written under a temporary name and renamed into place whole, so an object is either there
complete or not at all. It is immutable once named, so there is no shared index to corrupt.

Every block is still addressed by its multihash and re-hashed when read; every byte of the
file belongs to exactly one block, index entry or the footer, so any corruption shows up
when the object is read whole: a changed block fails its hash, a changed index entry sends
the reader to a block that is missing or fails its hash, a changed footer breaks the layout
check below.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

from eotrust.cid.codec import cid_from_multihash
from eotrust.errors import IntegrityError, StoreError

MAGIC = b"EOTPACK1"
_ENTRY = struct.Struct(">34sQI")
_FOOTER = struct.Struct(">8sQQQ")


class PackWriter:
    """Collects blocks (from any thread) into a temporary file; :meth:`commit` renames it."""

    def __init__(self, tmp: Path, *, durable: bool = False) -> None:
        self._tmp = tmp
        self._durable = durable
        self._fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._lock = threading.Lock()
        self._index: dict[bytes, tuple[int, int]] = {}
        self._end = 0

    def add(self, mh: bytes, parts: Sequence[bytes]) -> None:
        """A :data:`eotrust.cid.BlockSink`: reserve room under the lock, write outside it."""
        size = sum(len(p) for p in parts)
        with self._lock:
            if mh in self._index:
                return  # the same block again (e.g. repeated content): stored once
            offset = self._end
            self._end += size
            self._index[mh] = (offset, size)
        try:
            written = os.pwritev(self._fd, parts, offset)
            if written < size:  # a short write: finish it from one buffer
                view = memoryview(b"".join(parts))[written:]
                offset += written
                while view:
                    n = os.pwrite(self._fd, view, offset)
                    view, offset = view[n:], offset + n
        except OSError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> StoreError:
        return StoreError(f"cannot write {self._tmp.parent}: {exc.strerror}", hint="check free space and permissions")

    def commit(self, dest: Path, size: int) -> None:
        """Write the index and footer and rename the pack to ``dest`` (atomically)."""
        index = b"".join(_ENTRY.pack(mh, off, n) for mh, (off, n) in self._index.items())
        tail = index + _FOOTER.pack(MAGIC, len(self._index), self._end, size)
        try:
            os.pwrite(self._fd, tail, self._end)
            if self._durable:
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            dest.parent.mkdir(exist_ok=True)
            os.replace(self._tmp, dest)
        except OSError as exc:
            raise self._failed(exc) from None

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._tmp.unlink(missing_ok=True)


class PackReader:
    """Random access to the blocks of one pack (the index is read once, on opening)."""

    def __init__(self, path: Path, cid: str) -> None:
        self.path = path
        self.cid = cid
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self.size, self._index = self._read_index()
        except BaseException:
            os.close(self._fd)
            raise

    def _bad(self, what: str) -> IntegrityError:
        return IntegrityError(f"the pack of object {self.cid} is corrupt: {what}", hint="put the object again")

    def _read_index(self) -> tuple[int, dict[bytes, tuple[int, int]]]:
        total = os.fstat(self._fd).st_size
        if total < _FOOTER.size:
            raise self._bad("too short")
        magic, count, index_at, size = _FOOTER.unpack(os.pread(self._fd, _FOOTER.size, total - _FOOTER.size))
        if magic != MAGIC or index_at + count * _ENTRY.size + _FOOTER.size != total:
            raise self._bad("its footer does not match its length")
        raw = os.pread(self._fd, count * _ENTRY.size, index_at)
        index: dict[bytes, tuple[int, int]] = {}
        for mh, off, n in _ENTRY.iter_unpack(raw):
            if off + n > index_at or mh in index:
                raise self._bad("its index is inconsistent")
            index[mh] = (off, n)
        return size, index

    def block(self, mh: bytes) -> bytes:
        """The bytes recorded for ``mh`` (the caller checks their hash)."""
        try:
            off, n = self._index[mh]
        except KeyError:
            raise self._bad(f"block {cid_from_multihash(mh)} is missing") from None
        try:
            return os.pread(self._fd, n, off)
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {exc.strerror}") from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
