"""The embedded store: objects as files in a local directory, named by their CIDs.

Layout under the root::

    objects/<XY>/<CID>.pack   the object's blocks and their index (see :mod:`.pack`); XY is
                              two characters of the CID, to keep directories small
    pins/<CID>                empty marker: the object is pinned
    tmp/                      packs being written (those left by a crash are removed after a day)

Every file is written under a temporary name and renamed into place, so a crash never
leaves half an object under a valid name, and there is no shared index to corrupt: several
processes can put, pin and read in the same directory at once (two processes putting the
same bytes write the same pack; the last rename wins, both are whole). Reads re-hash every
block (:class:`eotrust.cid.reader.DagReader`), so a flipped byte on disk is reported, not
returned.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from eotrust.cid import CHUNK_SIZE, import_stream, validate_cid
from eotrust.cid.reader import DagReader
from eotrust.errors import IntegrityError, NotFoundError, StoreError
from eotrust.store.atomic import write_atomic
from eotrust.store.base import StoreBase, StoredObject
from eotrust.store.pack import PackReader, PackWriter

STALE_TMP_S = 24 * 3600  # a put still writing after a day has died


class LocalStore(StoreBase):
    """A content-addressed store in a local directory (see the module doc for the layout).

    ``hash_workers`` threads hash and write blocks; ``durable`` also flushes every pack and
    marker to the disk before it is named (survives power loss, not only crashes)."""

    def __init__(self, root: Path, *, hash_workers: int = 2, durable: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.hash_workers = hash_workers
        self.durable = durable
        self._objects = self.root / "objects"
        self._pins = self.root / "pins"
        self._tmp = self.root / "tmp"
        try:
            for d in (self._objects, self._pins, self._tmp):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot use {self.root} as a store: {exc.strerror}") from None
        self._clean_tmp()

    def _clean_tmp(self, max_age_s: float = STALE_TMP_S) -> None:
        """Remove packs left half-written by processes that died (older than a day)."""
        cutoff = time.time() - max_age_s
        for path in self._tmp.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                pass

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def object_path(self, cid: str) -> Path:
        """The pack file holding object ``cid`` (CIDv0)."""
        return self._objects / cid[-3:-1] / f"{cid}.pack"

    # -- putting -----------------------------------------------------------
    def put_stream(self, stream: BinaryIO, *, pin: bool = True) -> str:
        """Store everything readable from ``stream``; return its CID (kubo's, v0)."""
        tmp = self._tmp / f"{os.getpid()}-{uuid.uuid4().hex}.pack"
        try:
            writer = PackWriter(tmp, durable=self.durable)
        except OSError as exc:
            raise StoreError(
                f"cannot write to {self._tmp}: {exc.strerror}", hint="check free space and permissions"
            ) from None
        try:
            result = import_stream(stream, writer.add, workers=self.hash_workers)
            dest = self.object_path(result.cid)
            if dest.exists():
                writer.abort()  # already stored, whole: nothing to replace
            else:
                writer.commit(dest, result.size)
        except BaseException:
            writer.abort()
            raise
        if pin:
            write_atomic(self._pins / result.cid, b"", durable=self.durable)
        return result.cid

    # -- reading -----------------------------------------------------------
    def _pack(self, cid: str) -> PackReader:
        cid = validate_cid(cid)
        try:
            return PackReader(self.object_path(cid), cid)
        except FileNotFoundError:
            raise NotFoundError(
                f"object {cid} is not in the store at {self.root}", hint="put it first, or check the CID"
            ) from None

    def open(self, cid: str) -> BinaryIO:
        """A stream of the object's bytes, each block verified before it is returned."""
        pack = self._pack(cid)
        try:
            reader = DagReader(pack.block, pack.cid, on_close=pack.close)
            if reader.size != pack.size:
                raise IntegrityError(f"the pack of object {pack.cid} records {pack.size} bytes, its root {reader.size}")
        except BaseException:
            pack.close()
            raise
        return io.BufferedReader(reader, buffer_size=CHUNK_SIZE)

    def size(self, cid: str) -> int:
        """The object's size in bytes (from its pack's footer)."""
        pack = self._pack(cid)
        pack.close()
        return pack.size

    # -- bookkeeping ---------------------------------------------------------
    def has(self, cid: str) -> bool:
        return self.object_path(validate_cid(cid)).exists()

    def _present(self, cid: str) -> str:
        cid = validate_cid(cid)
        if not self.object_path(cid).exists():
            raise NotFoundError(f"object {cid} is not in the store at {self.root}")
        return cid

    def pin(self, cid: str) -> None:
        write_atomic(self._pins / self._present(cid), b"", durable=self.durable)

    def unpin(self, cid: str) -> None:
        (self._pins / self._present(cid)).unlink(missing_ok=True)

    def is_pinned(self, cid: str) -> bool:
        return (self._pins / validate_cid(cid)).exists()

    def remove(self, cid: str) -> None:
        """Delete an object (and its pin). Readers that have it open keep reading it."""
        cid = self._present(cid)
        (self._pins / cid).unlink(missing_ok=True)
        self.object_path(cid).unlink(missing_ok=True)

    def list(self) -> Iterator[StoredObject]:
        """Every object, sorted by CID."""
        for path in sorted(self._objects.glob("*/*.pack"), key=lambda p: p.name):
            cid = path.name.removesuffix(".pack")
            try:
                size = self.size(cid)
            except (IntegrityError, NotFoundError):
                size = -1  # damaged (or removed meanwhile): `verify` says more
            yield StoredObject(cid=cid, size=size, pinned=(self._pins / cid).exists())
