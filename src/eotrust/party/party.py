"""Parties on this machine: create, unlock and list them.

A party lives in ``settings.parties_dir/<name>/``::

    keystore.json       the Ethereum account, encrypted with the passphrase
    age-identity.json   the age identity, encrypted with the passphrase
    card.json           the public card (name, role, address, age recipient, signature)

The directory is built under a temporary name and renamed into place, so a party exists
completely or not at all, and creating one that exists is an error, never an overwrite.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from eotrust.crypto import generate_identity, recipient_of
from eotrust.errors import IntegrityError, InvalidInputError, NotFoundError, PartyError
from eotrust.names import check_name as _check_name
from eotrust.party.card import PartyCard, load_card
from eotrust.party.keystore import (
    decrypt_account,
    decrypt_age_identity,
    encrypt_account,
    encrypt_age_identity,
    read_json,
    write_secret_json,
)
from eotrust.party.role import Role
from eotrust.settings import Settings
from eotrust.store.atomic import temp_name, write_atomic

KEYSTORE, AGE_IDENTITY, CARD = "keystore.json", "age-identity.json", "card.json"


@dataclass(frozen=True)
class Party:
    """An unlocked party: its card and both of its secrets."""

    name: str
    role: Role
    card: PartyCard
    account: LocalAccount
    age_identity: str

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def age_recipient(self) -> str:
        return self.card.age_recipient

    def __repr__(self) -> str:  # never print the secrets
        return f"Party(name={self.name!r}, role={self.role.value!r}, address={self.address})"


def check_name(name: str) -> str:
    return _check_name(name, "party name", PartyError)


def party_dir(settings: Settings, name: str) -> Path:
    return settings.parties_dir / check_name(name)


def resolve_passphrase(settings: Settings, passphrase: str | None) -> str:
    """The passphrase given, else ``settings.passphrase``, else ``EOTRUST_PASSPHRASE``."""
    if passphrase is None and settings.passphrase is not None:
        passphrase = settings.passphrase.get_secret_value()
    if passphrase is None:
        passphrase = os.environ.get("EOTRUST_PASSPHRASE")
    if not passphrase:
        raise PartyError("no passphrase for the party keystore", hint="set EOTRUST_PASSPHRASE or enter one when asked")
    return passphrase


def create_party(
    settings: Settings,
    name: str,
    role: Role | str,
    passphrase: str | None = None,
    *,
    scrypt_n: int | None = None,
) -> Party:
    """Create a party: a new Ethereum account and age identity, encrypted with the passphrase,
    and its signed card. ``scrypt_n`` defaults to ``settings.keystore_scrypt_n``."""
    role = Role.parse(role)
    final = party_dir(settings, name)
    if final.exists():
        raise PartyError(f"party {name!r} already exists in {final.parent}", hint="choose another name")
    secret = resolve_passphrase(settings, passphrase)
    n = scrypt_n or settings.keystore_scrypt_n
    account = Account.create()
    age_identity, age_recipient = generate_identity()
    card = PartyCard.sign(account, name, role, age_recipient)

    building = temp_name(final)
    building.mkdir(mode=0o700)
    try:
        write_secret_json(building / KEYSTORE, encrypt_account(account, secret, n))
        write_secret_json(building / AGE_IDENTITY, encrypt_age_identity(age_identity, secret, n))
        (building / CARD).write_text(card.to_json())
        try:
            os.rename(building, final)  # fails if another process created it meanwhile
        except OSError:
            raise PartyError(f"party {name!r} already exists in {final.parent}", hint="choose another name") from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return Party(name=name, role=role, card=card, account=account, age_identity=age_identity)


def _existing(settings: Settings, name: str) -> Path:
    path = party_dir(settings, name)
    if not (path / CARD).is_file():
        raise NotFoundError(
            f"no party {name!r} in {settings.parties_dir}", hint="create it with `eotrust party create`"
        )
    return path


def export_card(settings: Settings, name: str) -> PartyCard:
    """The verified public card of a local party."""
    return _checked_card(_existing(settings, name), name)


def _checked_card(path: Path, name: str) -> PartyCard:
    """The card in a party's directory, checked without the passphrase: its signature holds,
    it carries the directory's name, and its address is the one of the keystore beside it (so a
    self-consistent card of another key is refused)."""
    card = load_card(path / CARD).verify()
    what = f"party {name!r}"
    if card.name != name:
        raise IntegrityError(
            f"the card of {what} names the party {card.name!r}", hint=f"the directory {path} was tampered with"
        )
    keystore = read_json(path / KEYSTORE, what)
    stored = str(keystore.get("address", "")).lower().removeprefix("0x")
    if stored != card.address.lower().removeprefix("0x"):
        raise IntegrityError(
            f"the card of {what} names address {card.address}, but its keystore holds the key of 0x{stored}",
            hint=f"the card was replaced by another key's card; the directory {path} was tampered with",
        )
    return card


def load_party(settings: Settings, name: str, passphrase: str | None = None) -> Party:
    """Unlock a local party with its passphrase (see :func:`resolve_passphrase`)."""
    path = _existing(settings, name)
    card = export_card(settings, name)
    secret = resolve_passphrase(settings, passphrase)
    what = f"party {name!r}"
    account = decrypt_account(read_json(path / KEYSTORE, what), secret, what)
    age_identity = decrypt_age_identity(read_json(path / AGE_IDENTITY, what), secret, what)
    if account.address != card.address or recipient_of(age_identity) != card.age_recipient:
        raise IntegrityError(
            f"the keys of {what} do not match its card", hint=f"the directory {path} was tampered with"
        )
    return Party(name=name, role=card.role, card=card, account=account, age_identity=age_identity)


def list_cards(settings: Settings) -> list[PartyCard]:
    """The cards of every local party, by name (each verified)."""
    cards = []
    for path in sorted(settings.parties_dir.iterdir()):
        if path.name.startswith(".") or not (path / CARD).is_file():
            continue
        cards.append(_checked_card(path, path.name))
    return cards


def save_card(card: PartyCard, dest: Path) -> Path:
    """Write a card file (e.g. to hand it to other parties)."""
    write_atomic(Path(dest), card.to_json().encode())
    return Path(dest)


def age_identity_text(party: Party) -> str:
    """The party's age identity in the format ``age-keygen`` writes (``age -d -i FILE``
    reads it): a comment with the public key, then the secret key — in clear."""
    return f"# eotrust party {party.name} ({party.role.value})\n# public key: {party.age_recipient}\n{party.age_identity}\n"


def export_age_identity(settings: Settings, name: str, dest: Path, passphrase: str | None = None) -> Path:
    """Write the party's age secret key, unencrypted, to ``dest`` for the ``age`` CLI:
    readable by its owner only, never over an existing file."""
    party = load_party(settings, name, passphrase)
    dest = Path(dest)
    if dest.exists():
        raise PartyError(f"{dest} exists; an identity is never written over a file", hint="name a new file with -o")
    if not dest.parent.is_dir():
        if dest.parent.exists():
            raise InvalidInputError(f"{dest.parent} is a file, not a folder", hint="name a file in a folder with -o")
        raise NotFoundError(f"the folder {dest.parent} does not exist")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(age_identity_text(party))
    return dest
