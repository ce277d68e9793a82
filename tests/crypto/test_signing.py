"""Domain-separated signing: a signature made for one signed format never verifies as another."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from eotrust.catalog.entries import DatasetInfo, Kind, Record
from eotrust.cid import canonical_json
from eotrust.crypto.signing import (
    Domain,
    account_of,
    parse_record_text,
    record_signer,
    record_text,
    sign_record,
    verify_record,
)
from eotrust.errors import IntegrityError, InvalidInputError

ALICE = Account.from_key(b"\x11" * 32)
MALLORY = Account.from_key(b"\x22" * 32)
PAYLOAD = {"name": "alice", "role": "data", "note": "é ✓"}


def test_a_signature_verifies_in_its_own_domain_and_version() -> None:
    signature = sign_record(ALICE, Domain.PARTY_CARD, 1, PAYLOAD)
    assert signature.startswith("0x")
    assert verify_record(Domain.PARTY_CARD, 1, PAYLOAD, signature, ALICE.address)
    assert record_signer(Domain.PARTY_CARD, 1, dict(reversed(PAYLOAD.items())), signature) == ALICE.address


@pytest.mark.parametrize("other", [d for d in Domain if d is not Domain.PARTY_CARD])
def test_attack_a_signature_replayed_in_another_domain_does_not_verify(other: Domain) -> None:
    signature = sign_record(ALICE, Domain.PARTY_CARD, 1, PAYLOAD)
    assert not verify_record(other, 1, PAYLOAD, signature, ALICE.address)


def test_attack_a_signature_replayed_in_another_version_does_not_verify() -> None:
    signature = sign_record(ALICE, Domain.CATALOG_RECORD, 2, PAYLOAD)
    assert not verify_record(Domain.CATALOG_RECORD, 1, PAYLOAD, signature, ALICE.address)
    assert not verify_record(Domain.CATALOG_RECORD, 3, PAYLOAD, signature, ALICE.address)


def test_attack_altered_payload_or_other_signer_does_not_verify() -> None:
    signature = sign_record(ALICE, Domain.DEPLOYMENT, 1, PAYLOAD)
    assert not verify_record(Domain.DEPLOYMENT, 1, {**PAYLOAD, "role": "platform"}, signature, ALICE.address)
    assert not verify_record(Domain.DEPLOYMENT, 1, PAYLOAD, signature, MALLORY.address)
    assert record_signer(Domain.DEPLOYMENT, 1, PAYLOAD, "0x1234") is None
    assert not verify_record(Domain.DEPLOYMENT, 1, PAYLOAD, "not hex", ALICE.address)


def test_attack_an_untagged_signature_of_the_same_json_does_not_verify() -> None:
    # What catalogue records were signed with before the domain tag: the bare canonical bytes.
    bare = ALICE.sign_message(encode_defunct(primitive=canonical_json(PAYLOAD))).signature.hex()
    for domain in Domain:
        assert not verify_record(domain, 1, PAYLOAD, bare, ALICE.address)


def test_attack_a_party_card_signature_cannot_sign_a_catalogue_record() -> None:
    # Mallory gets Alice to sign something in one format and presents it as a record of hers.
    record = Record.sign(
        Kind.DATASET, DatasetInfo(title="t", cid="QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", size=1), ALICE
    )
    record.check()
    envelope = Record.envelope(record.kind, record.owner, record.created, record.body)
    card_signature = sign_record(ALICE, Domain.PARTY_CARD, 1, envelope)
    forged = record.model_copy(update={"signature": card_signature})
    with pytest.raises(IntegrityError, match="signature"):
        forged.check()


def test_signed_text_parses_back_only_in_the_allowed_formats() -> None:
    text = record_text(Domain.API_KEY_GRANT, 1, PAYLOAD)
    assert parse_record_text(text, {Domain.API_KEY_GRANT: 1}) == (Domain.API_KEY_GRANT, PAYLOAD)
    with pytest.raises(IntegrityError):
        parse_record_text(text, {Domain.API_KEY_CHALLENGE: 1})
    with pytest.raises(IntegrityError):
        parse_record_text(text, {Domain.API_KEY_GRANT: 2})
    with pytest.raises(IntegrityError):  # the same fields, not canonical (spaces): not the signed text
        parse_record_text(text.replace(",", ", "), {Domain.API_KEY_GRANT: 1})


def test_the_tag_is_a_fixed_line_before_canonical_json() -> None:
    assert record_text(Domain.PARTY_CARD, 1, {"b": 1, "a": "é"}) == 'eotrust party card v1\n{"a":"é","b":1}'
    with pytest.raises(TypeError):
        record_text("party card", 1, {})  # type: ignore[arg-type]  # deliberately a str, not a Domain
    with pytest.raises(TypeError):
        record_text(Domain.PARTY_CARD, 0, {})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_attack_nan_and_infinity_cannot_be_signed(bad: float) -> None:
    with pytest.raises(InvalidInputError, match="canonical JSON"):
        sign_record(ALICE, Domain.DEPLOYMENT, 1, {"x": bad})


def test_the_signer_is_an_account_or_a_party_holding_one_and_nothing_else() -> None:
    """One answer to "who signs" for every signed thing (records, documents, transactions): an
    eth-account LocalAccount, or a party's account; a look-alike is refused in one line."""
    from dataclasses import dataclass

    @dataclass
    class Holder:
        account: object

    assert account_of(ALICE) is ALICE
    assert account_of(Holder(ALICE)) is ALICE  # type: ignore[arg-type]  # Holder.account is `object` for the next line
    with pytest.raises(InvalidInputError, match="a quote is signed by a party or an eth_account LocalAccount"):
        account_of(Holder(MALLORY.address), "a quote")  # type: ignore[arg-type]  # deliberately an address

    class LookAlike:  # what a getattr check would have let through: an address and a sign_message
        address = ALICE.address

        def sign_message(self, message: object) -> object:
            return MALLORY.sign_message(message)

    with pytest.raises(InvalidInputError):
        account_of(LookAlike())  # type: ignore[arg-type]  # deliberately a look-alike
    with pytest.raises(InvalidInputError):
        account_of(ALICE.address)  # type: ignore[arg-type]  # deliberately an address
