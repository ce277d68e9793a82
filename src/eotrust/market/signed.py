"""A document signed by one party, stored by CID.

What is signed is ``{kind, signer, body}`` in the signing domain of its kind
(:mod:`eotrust.crypto.signing`: ``"eotrust market quote v1\n"``, ``market usage``, ``data-use
refusal``, then the canonical JSON), so a signature made for one format can never be replayed
as another; the signature is the signer's EIP-191 signature, as for catalogue records.
The stored object is the canonical JSON of the whole document, signature included, so its CID
names exactly what was signed. Reading one back checks its kind and that its signer signed it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from eotrust.cid import canonical_json
from eotrust.crypto.signing import Domain, Owner, account_of, record_signer, sign_record
from eotrust.errors import (
    EotrustError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)
from eotrust.limits import json_loads
from eotrust.store.base import Store, read_head

#: The largest signed document read back from a store (a quote with a thousand items is ~300 KB).
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

#: Each kind of document and the signing domain (and format version) it is signed in.
DOMAINS: dict[str, tuple[Domain, int]] = {
    "eotrust-quote/2": (Domain.QUOTE, 2),  # 2: the quote has a deadline
    "eotrust-usage/1": (Domain.USAGE, 1),
    "eotrust-refusal/1": (Domain.REFUSAL, 1),
}


def _domain(kind: str) -> tuple[Domain, int]:
    try:
        return DOMAINS[kind]
    except KeyError:
        raise InvalidInputError(f"not a kind of signed market document: {kind!r}") from None


class SignedDocument(BaseModel):
    """``body`` as ``signer`` signed it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    signer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    body: dict[str, Any]
    signature: str

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind, "signer": self.signer, "body": self.body}

    def stored_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def check(self) -> None:
        """IntegrityError unless ``signer`` signed this payload in its kind's signing domain."""
        recovered = record_signer(*DOMAINS[self.kind], self.payload(), self.signature) if self.kind in DOMAINS else None
        if recovered is None or recovered.lower() != self.signer.lower():
            raise IntegrityError(
                f"{self.kind} document: its signature was not made by its signer {self.signer}",
                hint="the document or its signature was altered after it was signed",
            )


def sign_document(kind: str, body: dict[str, Any], owner: Owner) -> SignedDocument:
    """``body`` signed by ``owner`` (an eth_account LocalAccount, or a party: its account)."""
    account = account_of(owner, "a document")
    domain, version = _domain(kind)
    signature = sign_record(account, domain, version, {"kind": kind, "signer": account.address, "body": body})
    return SignedDocument(kind=kind, signer=account.address, body=body, signature=signature)


def store_document(store: Store, document: SignedDocument) -> str:
    """Store a checked document; its CID."""
    document.check()
    return store.put_bytes(document.stored_bytes())


def load_document(store: Store, cid: str, kind: str) -> SignedDocument:
    """The signed document of this kind stored at ``cid``, checked; NotFoundError when the
    object is not one, IntegrityError when its signature does not hold."""
    try:
        data = read_head(store, cid, MAX_DOCUMENT_BYTES + 1)  # verified as read; never more than the bound
    except NotFoundError:
        raise
    except EotrustError as exc:
        raise NotFoundError(f"no {kind} document {cid}: {exc.message}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise NotFoundError(f"object {cid} is not a {kind} document (it is over {MAX_DOCUMENT_BYTES} bytes)")
    try:
        raw = json_loads(data)
        document = SignedDocument.model_validate(raw)
    except ValueError:
        raise NotFoundError(f"object {cid} is not a {kind} document") from None
    if document.kind != kind:
        raise NotFoundError(f"object {cid} is a {document.kind} document, not a {kind} document")
    document.check()
    return document
