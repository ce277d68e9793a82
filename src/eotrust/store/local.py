"""The embedded store: a directory of blocks on the local disk, named as kubo names them.

Layout under the root::

    blocks/<XY>/<KEY>.data   one dag-pb block; KEY is the base32 of its multihash and XY the
                             two characters before KEY's last (kubo's flatfs "next-to-last/2")
    objects/<CID>            empty marker: the object CID was put here completely
    pins/<CID>               empty marker: the object CID is pinned

Every file is written under a temporary name and renamed into place, so a crash never
leaves half a block under a valid name, and there is no shared index to corrupt: several
processes can put, pin and read in the same directory at once. Blocks are written before
the object's marker, so ``has`` is true only for complete objects. Reads re-hash every
block (:class:`eotrust.cid.reader.DagReader`), so a flipped byte on disk is reported, not
returned.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from eotrust.cid import CHUNK_SIZE, cid_multihash, import_stream, validate_cid
from eotrust.cid.reader import DagReader
from eotrust.errors import IntegrityError, NotFoundError, StoreError
from eotrust.store.atomic import write_atomic
from eotrust.store.base import StoreBase, StoredObject


class LocalStore(StoreBase):
    """A content-addressed store in a local directory (see the module doc for the layout)."""

    def __init__(self, root: Path, *, hash_workers: int = 2, durable: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.hash_workers = hash_workers
        self.durable = durable
        self._blocks = self.root / "blocks"
        self._objects = self.root / "objects"
        self._pins = self.root / "pins"
        for d in (self._blocks, self._objects, self._pins):
            d.mkdir(parents=True, exist_ok=True)
        self._made: set[str] = set()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # -- blocks ------------------------------------------------------------
    def block_path(self, mh: bytes) -> Path:
        """Where the block with multihash ``mh`` lives."""
        key = base64.b32encode(mh).decode().rstrip("=")
        return self._blocks / key[-3:-1] / f"{key}.data"

    def _write_block(self, mh: bytes, block: bytes) -> None:
        path = self.block_path(mh)
        if path.exists():
            return  # same name, same bytes: already stored
        shard = path.parent.name
        if shard not in self._made:
            path.parent.mkdir(exist_ok=True)
            self._made.add(shard)
        try:
            write_atomic(path, block, durable=self.durable)
        except OSError as exc:
            raise StoreError(f"cannot write block to {path.parent}: {exc.strerror}", hint="check free space and permissions") from None

    def _read_block(self, mh: bytes) -> bytes:
        path = self.block_path(mh)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(
                f"block {path.name} is missing from {self.root}", hint="put the object again"
            ) from None

    # -- putting -----------------------------------------------------------
    def put_stream(self, stream: BinaryIO, *, pin: bool = True) -> str:
        """Store everything readable from ``stream``; return its CID (kubo's, v0)."""
        cid = import_stream(stream, self._write_block, workers=self.hash_workers).cid
        write_atomic(self._objects / cid, b"", durable=self.durable)  # after every block
        if pin:
            write_atomic(self._pins / cid, b"", durable=self.durable)
        return cid

    # -- reading -----------------------------------------------------------
    def _root(self, cid: str) -> str:
        cid = validate_cid(cid)
        if not self.block_path(cid_multihash(cid)).exists():
            raise NotFoundError(f"object {cid} is not in the store at {self.root}", hint="put it first, or check the CID")
        return cid

    def open(self, cid: str) -> BinaryIO:
        """A stream of the object's bytes, each block verified before it is returned."""
        return io.BufferedReader(DagReader(self._read_block, self._root(cid)), buffer_size=CHUNK_SIZE)

    def size(self, cid: str) -> int:
        """The object's size in bytes (from its root block)."""
        reader = DagReader(self._read_block, self._root(cid))
        return reader.size

    # -- bookkeeping ---------------------------------------------------------
    def has(self, cid: str) -> bool:
        return (self._objects / validate_cid(cid)).exists()

    def _present(self, cid: str) -> str:
        cid = validate_cid(cid)
        if not (self._objects / cid).exists():
            raise NotFoundError(f"object {cid} is not in the store at {self.root}")
        return cid

    def pin(self, cid: str) -> None:
        write_atomic(self._pins / self._present(cid), b"", durable=self.durable)

    def unpin(self, cid: str) -> None:
        (self._pins / self._present(cid)).unlink(missing_ok=True)

    def is_pinned(self, cid: str) -> bool:
        return (self._pins / validate_cid(cid)).exists()

    def list(self) -> Iterator[StoredObject]:
        """Every complete object, sorted by CID."""
        for marker in sorted(self._objects.iterdir()):
            if marker.name.startswith("."):
                continue  # a marker being written
            cid = marker.name
            try:
                size = self.size(cid)
            except (IntegrityError, NotFoundError):
                size = -1  # unreadable root block: `verify` says more
            yield StoredObject(cid=cid, size=size, pinned=(self._pins / cid).exists())
