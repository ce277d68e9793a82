"""The platform's view of the stores: private writes over a shared read-only layer.

Decrypted inputs and every intermediate object of a run must never leave the platform, yet
the workflow documents (and the encrypted inputs) are in the shared store. A
:class:`PlatformStore` writes to the platform's private store and reads from it first, then
from the shared store, so the workflow engine sees one store and nothing it writes is shared.
What the platform chooses to publish (encrypted results, the run record) it puts into the
shared store explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from eotrust.store.base import Store, StoredObject


class PlatformStore:
    """A :class:`Store`: writes go to ``private``; reads try ``private`` then ``shared``."""

    def __init__(self, private: Store, shared: Store) -> None:
        self.private = private
        self.shared = shared

    def __repr__(self) -> str:
        return f"PlatformStore(private={self.private!r}, shared={self.shared!r})"

    def _reader(self, cid: str) -> Store:
        return self.private if self.private.has(cid) or not self.shared.has(cid) else self.shared

    def put_stream(self, stream: BinaryIO, *, pin: bool = True) -> str:
        return self.private.put_stream(stream, pin=pin)

    def put_file(self, path: Path, *, pin: bool = True) -> str:
        return self.private.put_file(path, pin=pin)

    def put_bytes(self, data: bytes, *, pin: bool = True) -> str:
        return self.private.put_bytes(data, pin=pin)

    def open(self, cid: str) -> BinaryIO:
        return self._reader(cid).open(cid)

    def get_bytes(self, cid: str) -> bytes:
        return self._reader(cid).get_bytes(cid)

    def get_file(self, cid: str, dest: Path, *, progress: Callable[[int], None] | None = None) -> Path:
        return self._reader(cid).get_file(cid, dest, progress=progress)

    def has(self, cid: str) -> bool:
        return self.private.has(cid) or self.shared.has(cid)

    def pin(self, cid: str) -> None:
        self._reader(cid).pin(cid)

    def unpin(self, cid: str) -> None:
        self._reader(cid).unpin(cid)

    def list(self) -> Iterator[StoredObject]:
        yield from self.private.list()

    def size(self, cid: str) -> int:
        return self._reader(cid).size(cid)

    def verify(self, cid: str) -> None:
        self._reader(cid).verify(cid)
