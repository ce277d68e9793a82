"""The sealed envelope: a plaintext encrypted with age together with its own CID.

What is encrypted is a short header and then the plaintext::

    eotrust-envelope/1\\n
    {"plaintext_cid": "Qm…", "size": 123}\\n
    <the plaintext bytes>

The store names the ciphertext (that CID is what travels on the ledger); the plaintext's CID
rides inside the encryption, unreadable to anyone else and bound to the bytes by age's
authentication. On opening, the plaintext's CID is recomputed while it is decrypted and
compared with the header: a reader knows exactly what it decrypted, and nothing is left at
the destination if anything does not match.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from eotrust.cid import DagImporter, cid_of_file, validate_cid
from eotrust.crypto.age import decrypt_stream, encrypt_stream
from eotrust.errors import CryptoError, EotrustError, IntegrityError, NotFoundError
from eotrust.store.atomic import atomic_output
from eotrust.store.base import Store

MAGIC = b"eotrust-envelope/1\n"
_MAX_HEADER = 4096


@dataclass(frozen=True)
class Sealed:
    """A sealed object in a store: ``cid`` names the ciphertext, ``plaintext_cid`` the
    plaintext inside it, ``size`` the plaintext's length in bytes."""

    cid: str
    plaintext_cid: str
    size: int


def envelope_header(plaintext_cid: str, size: int) -> bytes:
    body = json.dumps({"plaintext_cid": plaintext_cid, "size": size}, sort_keys=True)
    return MAGIC + body.encode() + b"\n"


class _HeaderThenFile:
    """Reads the header, then the file; checks the file is the size the header says."""

    def __init__(self, header: bytes, f: BinaryIO, size: int) -> None:
        self._header = header
        self._f = f
        self._size = size
        self._read = 0

    def read(self, n: int = -1) -> bytes:
        if self._header:
            cut = len(self._header) if n is None or n < 0 else max(1, n)
            out, self._header = self._header[:cut], self._header[cut:]
            return out
        data = self._f.read(n)
        self._read += len(data)
        if not data and self._read != self._size:
            raise IntegrityError(f"the file changed while it was sealed ({self._read} bytes, expected {self._size})")
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
    """Encrypt the file ``src`` for ``recipients`` in an envelope carrying its plaintext CID,
    and put the ciphertext into ``store``; return the two CIDs and the size."""
    src = Path(src)
    if not src.is_file():
        raise NotFoundError(f"file {src} does not exist")
    size = src.stat().st_size
    plaintext_cid = cid_of_file(src)
    header = envelope_header(plaintext_cid, size)
    pipe = _Pipe()

    def produce() -> None:
        try:
            with open(src, "rb") as f:
                encrypt_stream(_HeaderThenFile(header, f, size), pipe, recipients)
        except BaseException as exc:  # handed to the reader, which raises it
            pipe.finish(exc)
        else:
            pipe.finish()

    producer = threading.Thread(target=produce, name="seal-encrypt", daemon=True)
    producer.start()
    try:
        cid = store.put_stream(pipe, pin=pin)  # type: ignore[arg-type]
    finally:
        pipe.close()
        producer.join()
    return Sealed(cid=cid, plaintext_cid=plaintext_cid, size=size)


class _EnvelopeSink:
    """Receives the decrypted envelope: parses the header, then writes the plaintext to
    ``out`` while computing its CID."""

    def __init__(self, out: BinaryIO, name: str) -> None:
        self._out = out
        self._name = name
        self._head = bytearray()
        self.header: dict[str, object] | None = None
        self._importer = DagImporter(workers=2)
        self.size = 0

    def write(self, data: bytes) -> int:
        n = len(data)
        if self.header is None:
            self._head += data
            if not MAGIC.startswith(bytes(self._head[: len(MAGIC)])):
                raise IntegrityError(f"{self._name} is not an eotrust envelope")
            line_end = self._head.find(b"\n", len(MAGIC))
            if line_end < 0:
                if len(self._head) > _MAX_HEADER:
                    raise IntegrityError(f"{self._name} is not an eotrust envelope")
                return n
            try:
                header = json.loads(bytes(self._head[len(MAGIC) : line_end]))
                validate_cid(header["plaintext_cid"])
                int(header["size"])
            except (ValueError, KeyError, TypeError, EotrustError):
                raise IntegrityError(f"{self._name} has a malformed envelope header") from None
            self.header = header
            data = bytes(self._head[line_end + 1 :])
            self._head = bytearray()
        if data:
            self._out.write(data)
            self._importer.write(data)
            self.size += len(data)
        return n

    def flush(self) -> None:
        pass

    def finish(self) -> str:
        if self.header is None:
            raise IntegrityError(f"{self._name} ended before its envelope header")
        got = self._importer.finish().cid
        want = str(self.header["plaintext_cid"])
        if got != validate_cid(want) or self.size != int(self.header["size"]):  # type: ignore[call-overload]
            raise IntegrityError(
                f"{self._name} decrypted to {self.size} bytes named {got}, "
                f"but its envelope says {self.header['size']} bytes named {want}"
            )
        return got

    def close(self) -> None:
        self._importer.close()


def open_stream(src: BinaryIO, identity: str, dst: BinaryIO, *, name: str = "the envelope") -> str:
    """Decrypt an envelope from ``src`` into ``dst``; return the checked plaintext CID."""
    sink = _EnvelopeSink(dst, name)
    try:
        decrypt_stream(src, sink, identity)  # type: ignore[arg-type]
        return sink.finish()
    finally:
        sink.close()


def open_from_store(store: Store, cid: str, identity: str, dest: Path) -> str:
    """Fetch the sealed object ``cid``, decrypt it with ``identity`` into ``dest`` and return
    the plaintext CID, checked against the envelope. Nothing is at ``dest`` on failure."""
    cid = validate_cid(cid)
    with store.open(cid) as ciphertext, atomic_output(Path(dest)) as out:
        try:
            return open_stream(ciphertext, identity, out, name=f"object {cid}")
        except CryptoError as exc:
            raise CryptoError(f"cannot open {cid}: {exc.message}", hint=exc.hint) from None
