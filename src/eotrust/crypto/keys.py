"""age X25519 identities (``AGE-SECRET-KEY-1…``) and recipients (``age1…``), as the age
command-line tool writes them."""

from __future__ import annotations

from collections.abc import Sequence

from pyrage import x25519

from eotrust.errors import CryptoError


def generate_identity() -> tuple[str, str]:
    """A new identity and its recipient: ``("AGE-SECRET-KEY-1…", "age1…")``."""
    identity = x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def parse_identity(text: str) -> x25519.Identity:
    """An age identity from its string (surrounding space and ``#`` comment lines allowed,
    as in the key files ``age-keygen`` writes)."""
    lines = [x.strip() for x in str(text).splitlines() if x.strip() and not x.strip().startswith("#")]
    try:
        if len(lines) != 1:
            raise ValueError
        return x25519.Identity.from_str(lines[0])
    except Exception:
        raise CryptoError(
            "not an age identity", hint="an identity is one line AGE-SECRET-KEY-1… (age-keygen writes one)"
        ) from None


def parse_recipient(text: str) -> x25519.Recipient:
    """An age recipient from its ``age1…`` string."""
    try:
        return x25519.Recipient.from_str(str(text).strip())
    except Exception:
        shown = str(text).strip()[:20]
        raise CryptoError(
            f"{shown!r} is not an age recipient", hint="a recipient looks like age1… (62 characters)"
        ) from None


def recipient_of(identity: str) -> str:
    """The ``age1…`` recipient that an identity decrypts for."""
    return str(parse_identity(identity).to_public())


def parse_recipients(recipients: Sequence[str]) -> list[x25519.Recipient]:
    if isinstance(recipients, str):
        recipients = [recipients]
    if not recipients:
        raise CryptoError("no recipient given", hint="encrypt for at least one age1… recipient")
    return [parse_recipient(r) for r in recipients]
