"""The public card of a party: name, role, Ethereum address and age recipient, signed by the
account's key (EIP-191 ``personal_sign``, domain "party card" v1 of
:mod:`eotrust.crypto.signing`), so anyone holding the card can check that this
address vouches for this encryption key under this name and role."""

from __future__ import annotations

from pathlib import Path

from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from eotrust.crypto import parse_recipient
from eotrust.crypto.signing import Domain, record_text, sign_text, text_signer
from eotrust.errors import CryptoError, IntegrityError, InvalidInputError, NotFoundError
from eotrust.limits import read_document
from eotrust.party.role import Role

#: The card's signed format. v1 is byte-identical to the cards signed before signing had one
#: home (every field is ASCII), so existing cards still verify.
CARD_VERSION = 1


class PartyCard(BaseModel):
    """A party's public identity. ``verify()`` checks the signature binds the other fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    role: Role
    address: str
    age_recipient: str
    signature: str

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: object) -> Role:
        return Role.parse(value)  # type: ignore[arg-type]

    # -- signing -------------------------------------------------------------
    @staticmethod
    def message(name: str, role: Role | str, address: str, age_recipient: str) -> str:
        """The exact text that is signed: the domain tag and the fields as canonical JSON."""
        fields = {"name": name, "role": str(Role.parse(role)), "address": address, "age_recipient": age_recipient}
        return record_text(Domain.PARTY_CARD, CARD_VERSION, fields)

    @classmethod
    def sign(cls, account: LocalAccount, name: str, role: Role | str, age_recipient: str) -> PartyCard:
        """A card for ``account``, signed by it."""
        role = Role.parse(role)
        text = cls.message(name, role, account.address, age_recipient)
        signature = sign_text(account, text)
        return cls(name=name, role=role, address=account.address, age_recipient=age_recipient, signature=signature)

    def signer(self) -> str:
        """The address that signed this card (whatever the card claims)."""
        signer = text_signer(self.message(self.name, self.role, self.address, self.age_recipient), self.signature)
        if signer is None:
            raise IntegrityError(f"the card of {self.name!r} has a malformed signature")
        return signer

    def verify(self) -> PartyCard:
        """Check the signature binds name, role, address and age recipient; return the card."""
        try:
            parse_recipient(self.age_recipient)
        except CryptoError:
            raise IntegrityError(f"the card of {self.name!r} holds an invalid age recipient") from None
        if self.signer().lower() != self.address.lower():
            raise IntegrityError(
                f"the card of {self.name!r} is not signed by {self.address}",
                hint="the card was altered, or signed by another key: get it again from its owner",
            )
        return self

    # -- serialisation ---------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> PartyCard:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err.get("loc", ())) or "card"
            raise InvalidInputError(f"not a party card: {where}: {err.get('msg')}") from None


#: A card is a few hundred bytes; a file (or device) beyond this is not one.
MAX_CARD_BYTES = 64 * 1024


def load_card(path: Path) -> PartyCard:
    """Read a card file (not verified: call ``.verify()``)."""
    path = Path(path)
    try:
        text = read_document(path, max_bytes=MAX_CARD_BYTES, what="card file")
    except FileNotFoundError:
        raise NotFoundError(f"card file {path} does not exist") from None
    return PartyCard.from_json(text)
