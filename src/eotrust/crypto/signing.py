"""Signed records: EIP-191 (``personal_sign``) signatures with a domain tag.

Every signed format of eotrust signs the text ``"eotrust <domain> v<version>\\n"`` followed by
the canonical JSON (:func:`eotrust.cid.canonical_json`) of its payload. The tag names the
format and its version, so a signature made for one format (a party card, say) can never be
replayed as another (a catalogue record, an API-key grant), and a format that changes how it
is signed takes a new version rather than silently changing what old signatures mean.

:func:`sign_record` signs; :func:`record_signer` recovers the address; :func:`verify_record`
checks one. Nothing here is cryptography of our own: signing and recovery are eth-account's.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Protocol, TypeAlias, runtime_checkable

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from eotrust.cid import canonical_text
from eotrust.errors import IntegrityError, InvalidInputError
from eotrust.limits import json_loads


class Domain(str, Enum):
    """The signed formats. The value is the tag written before the payload."""

    PARTY_CARD = "party card"
    CATALOG_RECORD = "catalog record"
    DEPLOYMENT = "deployment"
    API_KEY_GRANT = "api-key grant"
    API_KEY_CHALLENGE = "api-key challenge"
    MODEL_PACKAGE = "model package"
    QUOTE = "market quote"
    USAGE = "market usage"
    REFUSAL = "data-use refusal"
    NODE_JOURNAL = "node journal"
    FEDERATED_JOURNAL = "federated journal"
    FEDERATED_CONSENT = "federated consent"


class Signer(Protocol):
    """What signs: an eth-account ``LocalAccount`` (or anything with the same two members)."""

    @property
    def address(self) -> str: ...

    def sign_message(self, signable_message: Any) -> Any: ...


@runtime_checkable
class HoldsAccount(Protocol):
    """An unlocked party (:class:`eotrust.party.Party`): it signs with the account it holds."""

    @property
    def account(self) -> LocalAccount: ...


#: Who signs a record, a document or a transaction: an eth-account ``LocalAccount``, or a party.
Owner: TypeAlias = LocalAccount | HoldsAccount


def account_of(owner: Owner, what: str = "a record") -> LocalAccount:
    """The ``LocalAccount`` that signs for ``owner`` (a party's, or the account itself);
    InvalidInputError for anything else (``what``: what was to be signed, for the message)."""
    account = owner.account if isinstance(owner, HoldsAccount) else owner
    if not isinstance(account, LocalAccount):
        raise InvalidInputError(f"{what} is signed by a party or an eth_account LocalAccount")
    return account


def record_header(domain: Domain, version: int) -> str:
    """The tag line of a format: ``"eotrust <domain> v<version>\\n"``."""
    if not isinstance(domain, Domain):
        raise TypeError(f"not a signing domain: {domain!r}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise TypeError(f"a format version is a positive integer, not {version!r}")
    return f"eotrust {domain.value} v{version}\n"


def record_text(domain: Domain, version: int, payload: Any) -> str:
    """The exact text that is signed for ``payload`` in format ``domain`` v``version``."""
    return record_header(domain, version) + canonical_text(payload)


def parse_record_text(text: str, allowed: dict[Domain, int]) -> tuple[Domain, Any]:
    """Split a signed text back into its domain and JSON payload; IntegrityError unless it is
    one of the ``allowed`` formats (domain -> version) with a canonical payload."""
    for domain, version in allowed.items():
        header = record_header(domain, version)
        if text.startswith(header):
            body = text[len(header) :]
            try:
                payload = json_loads(body)
            except ValueError:
                break
            if canonical_text(payload) != body:
                break
            return domain, payload
    raise IntegrityError("the signed text is not one of the expected formats")


def sign_text(account: Signer, text: str) -> str:
    """The EIP-191 signature of ``text`` as ``0x``-prefixed hex."""
    signature = str(account.sign_message(encode_defunct(text=text)).signature.hex())
    return signature if signature.startswith("0x") else "0x" + signature


def text_signer(text: str, signature: str | bytes) -> str | None:
    """The address whose EIP-191 signature of ``text`` this is; None if it is malformed."""
    try:
        return str(Account.recover_message(encode_defunct(text=text), signature=signature))
    except Exception:  # noqa: BLE001 - eth-account raises several types for a malformed signature
        return None


def sign_record(account: Signer, domain: Domain, version: int, payload: Any) -> str:
    """Sign ``payload`` in format ``domain`` v``version``; the signature as ``0x`` hex."""
    return sign_text(account, record_text(domain, version, payload))


def record_signer(domain: Domain, version: int, payload: Any, signature: str | bytes) -> str | None:
    """The address that signed ``payload`` in this format; None for a malformed signature."""
    return text_signer(record_text(domain, version, payload), signature)


def verify_record(domain: Domain, version: int, payload: Any, signature: str | bytes, address: str) -> bool:
    """Whether ``address`` signed ``payload`` in format ``domain`` v``version``."""
    signer = record_signer(domain, version, payload, signature)
    return signer is not None and signer.lower() == address.lower()


def signed_document(account: Signer, domain: Domain, version: int, payload: Any) -> bytes:
    """``payload`` and its signature (format ``domain`` v``version``) as one JSON document:
    what a party keeps in a file of its home and trusts later (see :func:`open_signed_document`)."""
    from eotrust.cid import canonical_json

    return canonical_json({"payload": payload, "signature": sign_record(account, domain, version, payload)})


def open_signed_document(data: bytes, domain: Domain, version: int, address: str) -> Any | None:
    """The payload of a :func:`signed_document` that ``address`` signed in this format; None
    for anything else (not JSON, another format, another signer, an edited payload)."""
    try:
        doc = json_loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict) or set(doc) != {"payload", "signature"} or not isinstance(doc["signature"], str):
        return None
    return doc["payload"] if verify_record(domain, version, doc["payload"], doc["signature"], address) else None


def open_signed_file(path: Path, domain: Domain, version: int, address: str, *, max_bytes: int) -> Any | None:
    """:func:`open_signed_document` of the file at ``path``, read no further than ``max_bytes``;
    None also for a file that is missing, unreadable or larger."""
    from eotrust.limits import DocumentTooLarge, read_document

    try:
        data = read_document(path, max_bytes=max_bytes, what="a signed document")
    except (OSError, DocumentTooLarge):
        return None
    return open_signed_document(data, domain, version, address)
