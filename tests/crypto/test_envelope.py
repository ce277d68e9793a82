"""The sealed envelope: ciphertext in the store, plaintext CID checked on opening."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from eotrust.cid import CHUNK_SIZE, cid_of_bytes
from eotrust.crypto import Sealed, encrypt_stream, generate_identity, open_from_store, seal_to_store
from eotrust.crypto.envelope import envelope_header
from eotrust.errors import CryptoError, IntegrityError, NotFoundError
from eotrust.store import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.mark.parametrize("size", [0, 5, 3 * CHUNK_SIZE + 11])
def test_seal_and_open(store: LocalStore, tmp_path: Path, size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    src = tmp_path / "plain"
    src.write_bytes(data)
    identity, recipient = generate_identity()
    sealed = seal_to_store(store, src, [recipient])
    assert isinstance(sealed, Sealed)
    assert sealed.plaintext_cid == cid_of_bytes(data) and sealed.size == size
    assert sealed.cid != sealed.plaintext_cid and store.has(sealed.cid)
    assert data not in store.get_bytes(sealed.cid) or size == 0
    dest = tmp_path / "out" / "plain"
    assert open_from_store(store, sealed.cid, identity, dest) == sealed.plaintext_cid
    assert dest.read_bytes() == data


def test_wrong_identity(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.write_bytes(b"secret")
    sealed = seal_to_store(store, src, [generate_identity()[1]])
    dest = tmp_path / "out"
    with pytest.raises(CryptoError, match="not encrypted for your identity"):
        open_from_store(store, sealed.cid, generate_identity()[0], dest)
    assert not dest.exists()


def _store_ciphertext(store: LocalStore, recipient: str, plaintext: bytes) -> str:
    ct = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), ct, [recipient])
    return store.put_bytes(ct.getvalue())


def test_a_lying_envelope_is_caught(store: LocalStore, tmp_path: Path) -> None:
    """Authentic ciphertext whose header names other bytes: the reader notices."""
    identity, recipient = generate_identity()
    cid = _store_ciphertext(store, recipient, envelope_header(cid_of_bytes(b"the real thing"), 14) + b"a substitution")
    dest = tmp_path / "out"
    with pytest.raises(IntegrityError, match="envelope says"):
        open_from_store(store, cid, identity, dest)
    assert not dest.exists()


@pytest.mark.parametrize("plaintext", [b"", b"just bytes, no header\n\n", b"eotrust-envelope/1\n{not json}\nxx"])
def test_not_an_envelope(store: LocalStore, tmp_path: Path, plaintext: bytes) -> None:
    identity, recipient = generate_identity()
    cid = _store_ciphertext(store, recipient, plaintext)
    with pytest.raises(IntegrityError, match="envelope"):
        open_from_store(store, cid, identity, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupt_ciphertext_block(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.write_bytes(b"x" * (CHUNK_SIZE * 2))
    identity, recipient = generate_identity()
    sealed = seal_to_store(store, src, [recipient])
    pack = store.object_path(sealed.cid)
    raw = bytearray(pack.read_bytes())
    raw[1000] ^= 1
    pack.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        open_from_store(store, sealed.cid, identity, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_source_and_object(store: LocalStore, tmp_path: Path) -> None:
    identity, recipient = generate_identity()
    with pytest.raises(NotFoundError):
        seal_to_store(store, tmp_path / "missing", [recipient])
    with pytest.raises(NotFoundError):
        open_from_store(store, cid_of_bytes(b"nothing"), identity, tmp_path / "out")


def test_bad_recipient_stores_nothing(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.write_bytes(b"data")
    with pytest.raises(CryptoError):
        seal_to_store(store, src, ["age1bad"])
    assert list(store.list()) == []
