"""age encryption: round trips, clear errors, nothing left behind, and interop with the age CLI."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from eotrust.crypto import decrypt_file, decrypt_stream, encrypt_file, encrypt_stream, generate_identity, recipient_of
from eotrust.errors import CryptoError, NotFoundError

AGE = shutil.which("age")


@pytest.fixture
def age_cli() -> str:
    """The age CLI (interop tests); missing is a failure: `make sysdeps` installs it."""
    assert AGE is not None, "the age CLI is not installed: run `make sysdeps` (apt-get install age)"
    return AGE


def content(size: int) -> bytes:
    return np.random.default_rng(3).integers(0, 256, size, dtype=np.uint8).tobytes()


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.bin"
    path.write_bytes(content(300_000))
    return path


def test_identity_strings() -> None:
    identity, recipient = generate_identity()
    assert identity.startswith("AGE-SECRET-KEY-1") and recipient.startswith("age1")
    assert recipient_of(identity) == recipient
    assert recipient_of(f"# created: now\n# public key: {recipient}\n{identity}\n") == recipient


def test_roundtrip_for_several_recipients(plain: Path, tmp_path: Path) -> None:
    (id1, r1), (id2, r2) = generate_identity(), generate_identity()
    ct = encrypt_file(plain, tmp_path / "ct.age", [r1, r2])
    assert ct.read_bytes().startswith(b"age-encryption.org/v1\n")
    for identity in (id1, id2):
        out = decrypt_file(ct, tmp_path / f"out-{identity[-4:]}", identity)
        assert out.read_bytes() == plain.read_bytes()


def test_streams() -> None:
    identity, recipient = generate_identity()
    ct, out = io.BytesIO(), io.BytesIO()
    encrypt_stream(io.BytesIO(b"hello"), ct, [recipient])
    decrypt_stream(io.BytesIO(ct.getvalue()), out, identity)
    assert out.getvalue() == b"hello"


def test_wrong_key_is_a_clear_error_and_leaves_nothing(plain: Path, tmp_path: Path) -> None:
    _, recipient = generate_identity()
    other, _ = generate_identity()
    ct = encrypt_file(plain, tmp_path / "ct.age", [recipient])
    dest = tmp_path / "out"
    with pytest.raises(CryptoError, match="not encrypted for your identity"):
        decrypt_file(ct, dest, other)
    assert not dest.exists()


@pytest.mark.parametrize("damage", ["truncate", "truncate-chunk", "flip-body", "flip-header"])
def test_damaged_ciphertext_is_a_clear_error_and_leaves_nothing(plain: Path, tmp_path: Path, damage: str) -> None:
    identity, recipient = generate_identity()
    ct = encrypt_file(plain, tmp_path / "ct.age", [recipient])
    raw = bytearray(ct.read_bytes())
    if damage == "truncate":
        raw = raw[:-1]
    elif damage == "truncate-chunk":
        raw = raw[: len(raw) - (len(raw) - 200) % 65552 - 10]  # cut inside the last full chunk
    elif damage == "flip-body":
        raw[len(raw) // 2] ^= 0x40
    else:
        raw[30] ^= 0x01
    ct.write_bytes(bytes(raw))
    dest = tmp_path / "out"
    with pytest.raises(CryptoError):
        decrypt_file(ct, dest, identity)
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.age", "plain.bin"]


def test_bad_keys_are_clear_errors(plain: Path, tmp_path: Path) -> None:
    with pytest.raises(CryptoError, match="not an age recipient"):
        encrypt_file(plain, tmp_path / "ct", ["age1nonsense"])
    with pytest.raises(CryptoError, match="no recipient"):
        encrypt_file(plain, tmp_path / "ct", [])
    with pytest.raises(CryptoError, match="not an age identity"):
        decrypt_file(plain, tmp_path / "out", "AGE-SECRET-KEY-1NOPE")
    with pytest.raises(NotFoundError):
        encrypt_file(tmp_path / "missing", tmp_path / "ct", [generate_identity()[1]])
    assert not (tmp_path / "ct").exists() and not (tmp_path / "out").exists()


def test_age_cli_decrypts_what_we_encrypt(age_cli: str, plain: Path, tmp_path: Path) -> None:
    identity, recipient = generate_identity()
    keyfile = tmp_path / "key.txt"
    keyfile.write_text(identity + "\n")
    ct = encrypt_file(plain, tmp_path / "ct.age", [recipient])
    out = tmp_path / "by-age"
    subprocess.run([age_cli, "-d", "-i", str(keyfile), "-o", str(out), str(ct)], check=True)
    assert out.read_bytes() == plain.read_bytes()


def test_we_decrypt_what_the_age_cli_encrypts(age_cli: str, plain: Path, tmp_path: Path) -> None:
    keyfile = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(keyfile)], check=True, capture_output=True)
    recipient = recipient_of(keyfile.read_text())
    ct = tmp_path / "ct.age"
    subprocess.run([age_cli, "-r", recipient, "-o", str(ct), str(plain)], check=True)
    out = decrypt_file(ct, tmp_path / "by-us", keyfile.read_text())
    assert out.read_bytes() == plain.read_bytes()


def test_age_cli_rejects_what_we_reject(age_cli: str, plain: Path, tmp_path: Path) -> None:
    """The same damaged file fails in both implementations."""
    identity, recipient = generate_identity()
    keyfile = tmp_path / "key.txt"
    keyfile.write_text(identity + "\n")
    ct = encrypt_file(plain, tmp_path / "ct.age", [recipient])
    ct.write_bytes(ct.read_bytes()[:-1])
    assert subprocess.run([age_cli, "-d", "-i", str(keyfile), str(ct)], capture_output=True).returncode != 0
    with pytest.raises(CryptoError):
        decrypt_file(ct, tmp_path / "out", identity)
