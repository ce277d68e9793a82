"""Sealed objects: a plaintext encrypted with age, exactly, and named by the ciphertext's CID.

What is stored is a plain age file of the plaintext — nothing is added inside — so
``age -d -i KEY`` on the stored object yields exactly the original bytes, and a file the
``age`` tool encrypted is read here as well. The store names the ciphertext (that CID is what
travels on the ledger); the plaintext's CID travels *outside* the ciphertext, in a signed
record: the catalogue's dataset record for an input a data owner seals, the platform's signed
result record for each result and the failure log. On opening, the reader names the plaintext
CID it expects; the CID is recomputed while the bytes are decrypted and compared: a reader
knows exactly what it decrypted, and nothing is left at the destination if it does not match.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from eotrust.cid import DagImporter, validate_cid
from eotrust.crypto.age import decrypt_stream, encrypt_stream
from eotrust.errors import CryptoError, IntegrityError, NotFoundError
from eotrust.store.atomic import atomic_output
from eotrust.store.base import Store


@dataclass(frozen=True)
class Sealed:
    """A sealed object in a store: ``cid`` names the ciphertext, ``plaintext_cid`` the
    plaintext inside it, ``size`` the plaintext's length in bytes."""

    cid: str
    plaintext_cid: str
    size: int


class _HashingReader:
    """Reads the file for the encryption and computes the CID of exactly the bytes read."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.importer = DagImporter(workers=2)
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data:
            self.importer.write(data)
            self.size += len(data)
        return data


class _Pipe:
    """A bounded in-memory pipe from a producer thread to a reader. An error on either side
    reaches the other: the reader re-raises the producer's, the producer stops if the
    reader has gone."""

    _EOF = object()

    def __init__(self, depth: int = 16) -> None:
        self._q: queue.Queue[object] = queue.Queue(depth)
        self._left = b""
        self._closed = threading.Event()

    # producer side
    def write(self, data: bytes) -> int:
        item = bytes(data)
        while True:
            if self._closed.is_set():
                raise BrokenPipeError("the reader stopped")
            try:
                self._q.put(item, timeout=0.1)
                return len(item)
            except queue.Full:
                continue

    def flush(self) -> None:
        pass

    def finish(self, error: BaseException | None = None) -> None:
        while not self._closed.is_set():
            try:
                self._q.put(error if error is not None else self._EOF, timeout=0.1)
                return
            except queue.Full:
                continue

    # reader side
    def read(self, n: int = -1) -> bytes:
        if not self._left:
            item = self._q.get()
            if item is self._EOF:
                self._q.put(item)  # every later read sees the end too
                return b""
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            self._left = item
        if n < 0 or n >= len(self._left):
            out, self._left = self._left, b""
        else:
            out, self._left = self._left[:n], self._left[n:]
        return out

    def close(self) -> None:
        self._closed.set()


def seal_to_store(store: Store, src: Path, recipients: Sequence[str], *, pin: bool = True) -> Sealed:
    """Encrypt the file ``src`` for ``recipients`` with age, as it is, and put the ciphertext
    into ``store``; return the ciphertext's CID, the CID of exactly the plaintext bytes that
    were encrypted, and their size. The caller records the plaintext CID where the reader
    will find it (a signed record)."""
    src = Path(src)
    if not src.is_file():
        raise NotFoundError(f"file {src} does not exist")
    pipe = _Pipe()
    with open(src, "rb") as f:
        reader = _HashingReader(f)

        def produce() -> None:
            try:
                encrypt_stream(reader, pipe, recipients)  # type: ignore[arg-type]
            except BaseException as exc:  # handed to the reader, which raises it
                pipe.finish(exc)
            else:
                pipe.finish()

        producer = threading.Thread(target=produce, name="seal-encrypt", daemon=True)
        producer.start()
        try:
            cid = store.put_stream(pipe, pin=pin)  # type: ignore[arg-type]
            plaintext_cid = reader.importer.finish().cid
        finally:
            pipe.close()
            producer.join()
            reader.importer.close()
    return Sealed(cid=cid, plaintext_cid=plaintext_cid, size=reader.size)


class Writable(Protocol):
    """Where decrypted bytes go: a binary file, or :class:`Discard`."""

    def write(self, data: bytes, /) -> int: ...


class Discard:
    """A plaintext destination that keeps nothing (the bytes are only counted and named)."""

    def write(self, data: bytes, /) -> int:
        return len(data)


class _CheckingSink:
    """Receives the decrypted plaintext: writes it to ``out`` while computing its CID."""

    def __init__(self, out: Writable) -> None:
        self._out = out
        self._importer = DagImporter(workers=2)
        self.size = 0

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self._importer.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def finish(self) -> str:
        return self._importer.finish().cid

    def close(self) -> None:
        self._importer.close()


def open_stream(src: BinaryIO, identity: str, dst: Writable, *, expected_cid: str, name: str = "the ciphertext") -> str:
    """Decrypt the age stream ``src`` into ``dst`` and check that the plaintext is named
    ``expected_cid`` (IntegrityError if not); return it."""
    want = validate_cid(expected_cid)
    sink = _CheckingSink(dst)
    try:
        decrypt_stream(src, sink, identity)  # type: ignore[arg-type]
        got = sink.finish()
    finally:
        sink.close()
    if got != want:
        raise IntegrityError(
            f"{name} decrypted to {sink.size} bytes named {got}, but its signed record names {want}",
            hint="the sealed object is not the one its owner recorded: do not use it",
        )
    return got


def open_from_store(store: Store, cid: str, identity: str, dest: Path, *, expected_cid: str) -> str:
    """Fetch the sealed object ``cid``, decrypt it with ``identity`` into ``dest`` and check
    the plaintext is ``expected_cid`` (from the signed record that names it); return it.
    Nothing is at ``dest`` on failure."""
    cid = validate_cid(cid)
    with store.open(cid) as ciphertext, atomic_output(Path(dest)) as out:
        try:
            return open_stream(ciphertext, identity, out, expected_cid=expected_cid, name=f"object {cid}")
        except CryptoError as exc:
            raise CryptoError(f"cannot open {cid}: {exc.message}", hint=exc.hint) from None


def check_sealed(store: Store, cid: str, identity: str, *, expected_cid: str) -> str:
    """Decrypt the sealed object ``cid`` with ``identity`` only to check that its plaintext is
    ``expected_cid`` (IntegrityError if not); return it. Nothing of the plaintext is written."""
    cid = validate_cid(cid)
    with store.open(cid) as ciphertext:
        try:
            return open_stream(ciphertext, identity, Discard(), expected_cid=expected_cid, name=f"object {cid}")
        except CryptoError as exc:
            raise CryptoError(f"cannot open {cid}: {exc.message}", hint=exc.hint) from None
