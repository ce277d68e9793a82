"""Sealed objects: a plain age file in the store, its plaintext CID checked on opening
against the CID a signed record names; exact interop with the `age` CLI both ways."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from eotrust.cid import CHUNK_SIZE, cid_of_bytes
from eotrust.crypto import Sealed, encrypt_stream, generate_identity, open_from_store, seal_to_store
from eotrust.errors import CryptoError, EotrustError, IntegrityError, NotFoundError
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
    assert open_from_store(store, sealed.cid, identity, dest, expected_cid=sealed.plaintext_cid) == sealed.plaintext_cid
    assert dest.read_bytes() == data


def test_wrong_identity(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.write_bytes(b"secret")
    sealed = seal_to_store(store, src, [generate_identity()[1]])
    dest = tmp_path / "out"
    with pytest.raises(CryptoError, match="not encrypted for your identity"):
        open_from_store(store, sealed.cid, generate_identity()[0], dest, expected_cid=sealed.plaintext_cid)
    assert not dest.exists()


def _store_ciphertext(store: LocalStore, recipient: str, plaintext: bytes) -> str:
    ct = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), ct, [recipient])
    return store.put_bytes(ct.getvalue())


def test_a_substituted_plaintext_is_caught(store: LocalStore, tmp_path: Path) -> None:
    """Authentic ciphertext for the right reader, but of other bytes than the signed record
    names (a data owner encrypting another file): the reader notices, nothing is written."""
    identity, recipient = generate_identity()
    cid = _store_ciphertext(store, recipient, b"a substitution")
    dest = tmp_path / "out"
    with pytest.raises(IntegrityError, match="signed record names"):
        open_from_store(store, cid, identity, dest, expected_cid=cid_of_bytes(b"the real thing"))
    assert not dest.exists()


def test_a_malformed_expected_cid_is_refused(store: LocalStore, tmp_path: Path) -> None:
    identity, recipient = generate_identity()
    cid = _store_ciphertext(store, recipient, b"x")
    with pytest.raises(EotrustError):
        open_from_store(store, cid, identity, tmp_path / "out", expected_cid="not-a-cid")
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
        open_from_store(store, sealed.cid, identity, tmp_path / "out", expected_cid=sealed.plaintext_cid)
    assert not (tmp_path / "out").exists()


def test_missing_source_and_object(store: LocalStore, tmp_path: Path) -> None:
    identity, recipient = generate_identity()
    with pytest.raises(NotFoundError):
        seal_to_store(store, tmp_path / "missing", [recipient])
    with pytest.raises(NotFoundError):
        open_from_store(store, cid_of_bytes(b"nothing"), identity, tmp_path / "out", expected_cid=cid_of_bytes(b""))


def test_bad_recipient_stores_nothing(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "plain"
    src.write_bytes(b"data")
    with pytest.raises(CryptoError):
        seal_to_store(store, src, ["age1bad"])
    assert list(store.list()) == []


AGE = shutil.which("age")


@pytest.mark.parametrize("size", [0, 3 * CHUNK_SIZE + 11])
def test_age_cli_decrypts_a_sealed_object_to_exactly_the_plaintext(
    store: LocalStore, tmp_path: Path, size: int
) -> None:
    data = np.random.default_rng(size + 1).integers(0, 256, size, dtype=np.uint8).tobytes()
    src = tmp_path / "plain"
    src.write_bytes(data)
    identity, recipient = generate_identity()
    sealed = seal_to_store(store, src, [recipient])
    ciphertext = tmp_path / "object.age"
    ciphertext.write_bytes(store.get_bytes(sealed.cid))
    key = tmp_path / "key.txt"
    key.write_text(identity + "\n")
    assert AGE is not None, "the age CLI is not on PATH"
    out = subprocess.run([AGE, "-d", "-i", str(key), str(ciphertext)], capture_output=True, check=True)
    assert out.stdout == data  # byte for byte: no header of ours before the file


def test_a_file_the_age_cli_encrypted_opens_against_its_cid(store: LocalStore, tmp_path: Path) -> None:
    data = b"made by the age tool\n" * 5000
    identity, recipient = generate_identity()
    assert AGE is not None, "the age CLI is not on PATH"
    enc = subprocess.run([AGE, "-r", recipient], input=data, capture_output=True, check=True).stdout
    cid = store.put_bytes(enc)
    dest = tmp_path / "out"
    assert open_from_store(store, cid, identity, dest, expected_cid=cid_of_bytes(data)) == cid_of_bytes(data)
    assert dest.read_bytes() == data
