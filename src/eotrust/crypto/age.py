"""Streaming age encryption (X25519 recipients) through pyrage: the files are the age
format, so the ``age`` command-line tool reads what we write and we read what it writes.

Decryption streams too, so a file is written before its last chunk is authenticated; the
file functions therefore write beside the destination and rename only on success: a wrong
key, a truncated or an altered ciphertext leaves nothing under the output name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import pyrage

from eotrust.crypto.keys import parse_identity, parse_recipients
from eotrust.errors import CryptoError, EotrustError, NotFoundError
from eotrust.store.atomic import atomic_output


class _Reader:
    """Hands pyrage the source's bytes, keeping any error the source raises so it can be
    re-raised as itself (pyrage would flatten it into its own error)."""

    def __init__(self, src: BinaryIO, progress: Callable[[int], None] | None = None) -> None:
        self._src = src
        self._progress = progress
        self.error: BaseException | None = None

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._src.read(n)
        except BaseException as exc:
            self.error = exc
            raise
        if self._progress is not None and data:
            self._progress(len(data))
        return data


class NotARecipientError(CryptoError):
    """The ciphertext is sound, but not sealed for this identity."""


def encrypt_stream(
    src: BinaryIO, dst: BinaryIO, recipients: Sequence[str], *, progress: Callable[[int], None] | None = None
) -> None:
    """Encrypt everything readable from ``src`` into ``dst`` for every recipient (``age1…``)."""
    keys = parse_recipients(recipients)
    reader = _Reader(src, progress)
    try:
        pyrage.encrypt_io(reader, dst, keys)
    except EotrustError:
        raise
    except Exception as exc:
        if reader.error is not None:
            raise reader.error from None
        raise CryptoError(f"encryption failed: {exc}") from None


def decrypt_stream(
    src: BinaryIO, dst: BinaryIO, identity: str, *, progress: Callable[[int], None] | None = None
) -> None:
    """Decrypt the age stream ``src`` into ``dst`` with ``identity`` (``AGE-SECRET-KEY-1…``).

    Raises CryptoError if the stream is not for this identity, or is truncated or altered;
    by then ``dst`` may hold the authenticated part of the plaintext (see the file version).
    """
    key = parse_identity(identity)
    reader = _Reader(src, progress)
    try:
        pyrage.decrypt_io(reader, dst, [key])
    except EotrustError:
        raise
    except pyrage.DecryptError as exc:
        if reader.error is not None:
            raise reader.error from None
        if "No matching keys" in str(exc):
            raise NotARecipientError(
                "this ciphertext was not encrypted for your identity",
                hint="decrypt with the identity of one of its recipients",
            ) from None
        raise CryptoError(f"not a valid age ciphertext: {exc}") from None
    except Exception:
        if reader.error is not None:
            raise reader.error from None
        raise CryptoError(
            "the ciphertext is truncated or altered: authentication failed",
            hint="fetch the ciphertext again from a good copy",
        ) from None


def _open_source(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise NotFoundError(f"file {path} does not exist") from None


def encrypt_file(
    src: Path, dst: Path, recipients: Sequence[str], *, progress: Callable[[int], None] | None = None
) -> Path:
    """Encrypt the file ``src`` to ``dst`` (the age binary format) for the recipients."""
    with _open_source(Path(src)) as f, atomic_output(Path(dst)) as out:
        encrypt_stream(f, out, recipients, progress=progress)
    return Path(dst)


def decrypt_file(src: Path, dst: Path, identity: str, *, progress: Callable[[int], None] | None = None) -> Path:
    """Decrypt the age file ``src`` to ``dst``; nothing appears at ``dst`` on any failure."""
    with _open_source(Path(src)) as f, atomic_output(Path(dst)) as out:
        decrypt_stream(f, out, identity, progress=progress)
    return Path(dst)
