"""What a content-addressed store is. Implementations: ``local.LocalStore`` (embedded default,
blocks on disk) and ``ipfs.IpfsStore`` (kubo RPC API). Both name objects by the CID kubo's
``ipfs add`` would give them (CIDv0 ``Qm…`` by default), so an object can move between them
unchanged."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from eotrust.errors import InvalidInputError, NotFoundError
from eotrust.store.atomic import atomic_output, copy_stream


@dataclass(frozen=True)
class StoredObject:
    """One object in a store."""

    cid: str
    size: int
    pinned: bool


@runtime_checkable
class Store(Protocol):
    """The protocol every store backend implements."""

    def put_stream(self, stream: BinaryIO, *, pin: bool = True) -> str:
        """Store everything readable from ``stream``; return its CID."""
        ...

    def put_file(self, path: Path, *, pin: bool = True) -> str:
        """Store a file; return its CID."""
        ...

    def put_bytes(self, data: bytes, *, pin: bool = True) -> str:
        """Store bytes; return their CID."""
        ...

    def open(self, cid: str) -> BinaryIO:
        """A stream of the object's bytes, verified against ``cid`` as it is read
        (raises IntegrityError on the first mismatch, NotFoundError if absent)."""
        ...

    def get_bytes(self, cid: str) -> bytes:
        """The whole object, verified."""
        ...

    def get_file(self, cid: str, dest: Path, *, progress: Callable[[int], None] | None = None) -> Path:
        """Write the verified object to ``dest`` atomically (nothing at ``dest`` on failure);
        ``progress``, if given, is called with the size of each piece written."""
        ...

    def has(self, cid: str) -> bool: ...

    def pin(self, cid: str) -> None: ...

    def unpin(self, cid: str) -> None: ...

    def list(self) -> Iterator[StoredObject]: ...

    def size(self, cid: str) -> int:
        """The object's size in bytes (NotFoundError if absent)."""
        ...

    def verify(self, cid: str) -> None:
        """Re-hash every block of the object; raise IntegrityError naming what does not match."""
        ...


class StoreBase:
    """The Store methods that follow from ``put_stream`` and ``open``, shared by backends."""

    def put_stream(self, stream: BinaryIO, *, pin: bool = True) -> str:
        raise NotImplementedError

    def open(self, cid: str) -> BinaryIO:
        raise NotImplementedError

    def put_file(self, path: Path, *, pin: bool = True) -> str:
        """Store a file; return its CID."""
        path = Path(path)
        if path.is_dir():
            raise InvalidInputError(f"{path} is a directory; only files can be stored")
        try:
            f = open(path, "rb", buffering=0)
        except FileNotFoundError:
            raise NotFoundError(f"file {path} does not exist") from None
        with f:
            return self.put_stream(f, pin=pin)

    def put_bytes(self, data: bytes, *, pin: bool = True) -> str:
        """Store bytes; return their CID."""
        return self.put_stream(io.BytesIO(data), pin=pin)

    def get_bytes(self, cid: str) -> bytes:
        """The whole object, verified."""
        with self.open(cid) as f:
            return f.read()

    def get_file(self, cid: str, dest: Path, *, progress: Callable[[int], None] | None = None) -> Path:
        """Write the verified object to ``dest`` atomically; ``progress`` gets each piece's size."""
        dest = Path(dest)
        with self.open(cid) as src, atomic_output(dest) as out:
            copy_stream(src, out, progress)
        return dest

    def verify(self, cid: str) -> None:
        """Read the whole object through its verifying stream."""
        with self.open(cid) as f:
            while f.read(1 << 20):
                pass


def read_head(store: Store, cid: str, limit: int) -> bytes:
    """The first ``limit`` bytes of ``cid`` (all of it when shorter), verified as read."""
    chunks: list[bytes] = []
    left = limit
    with store.open(cid) as f:
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    return b"".join(chunks)


def read_at_most(store: Store, cid: str, limit: int, what: str) -> bytes:
    """The object ``cid`` (verified as it is read) if it is at most ``limit`` bytes; else one
    InvalidInputError naming ``what``, having read no more than ``limit + 1`` bytes. For the
    documents another party names (workflows, services, CWL packages, run records, plans),
    which were read whole whatever their size."""
    data = read_head(store, cid, limit + 1)
    if len(data) > limit:
        raise InvalidInputError(f"{what} {cid} is over {limit} bytes; at most {limit} are read")
    return data
