"""What the contracts hold, to and from what people type: age recipients, CIDs, ids, UUIDs."""

from __future__ import annotations

import hashlib
import uuid

import pyrage
import pytest
from eth_utils.address import to_checksum_address

from eotrust.cid import cid_digest, to_v1
from eotrust.errors import InvalidInputError
from eotrust.ledger.codec import (
    catalog_id,
    checksum_address,
    cid_or_none,
    cid_to_bytes32,
    execution_id_bytes,
    execution_id_or_none,
    key_to_recipient,
    recipient_to_key,
)

CID = "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u"


def test_age_recipient_round_trip_matches_age() -> None:
    for _ in range(20):
        identity = pyrage.x25519.Identity.generate()
        text = str(identity.to_public())
        key = recipient_to_key(text)
        assert len(key) == 32
        assert key_to_recipient(key) == text
        # and age accepts what we rebuild
        assert str(pyrage.x25519.Recipient.from_str(key_to_recipient(key))) == text


@pytest.mark.parametrize("bad", ["", "age1", "age1qqqq", "AGE1xyz", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"])
def test_bad_recipients_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        recipient_to_key(bad)


def test_a_flipped_character_breaks_the_checksum() -> None:
    text = str(pyrage.x25519.Identity.generate().to_public())
    flipped = text[:-1] + ("q" if text[-1] != "q" else "p")
    with pytest.raises(InvalidInputError):
        recipient_to_key(flipped)


def test_cids_round_trip_through_their_digest() -> None:
    assert cid_to_bytes32(CID) == cid_digest(CID)
    assert cid_or_none(cid_to_bytes32(CID)) == CID
    assert cid_or_none(cid_to_bytes32(to_v1(CID))) == CID
    assert cid_or_none(bytes(32)) is None


def test_catalog_ids() -> None:
    assert catalog_id(CID) == cid_digest(CID)
    hex_id = "0x" + "ab" * 32
    assert catalog_id(hex_id) == bytes.fromhex("ab" * 32)
    assert catalog_id("some-uuid") == hashlib.sha256(b"some-uuid").digest()
    assert catalog_id(b"\x01" * 32) == b"\x01" * 32
    with pytest.raises(InvalidInputError):
        catalog_id(b"short")
    with pytest.raises(InvalidInputError):
        catalog_id("  ")


def test_execution_ids() -> None:
    u = uuid.uuid4()
    assert execution_id_or_none(execution_id_bytes(u)) == str(u)
    assert execution_id_or_none(execution_id_bytes(str(u))) == str(u)
    assert len(execution_id_bytes(None)) == 16
    assert execution_id_or_none(bytes(16)) is None
    with pytest.raises(InvalidInputError):
        execution_id_bytes("not-a-uuid")


def test_addresses() -> None:
    assert checksum_address("0x" + "ab" * 20) == to_checksum_address("0x" + "ab" * 20)
    with pytest.raises(InvalidInputError):
        checksum_address("0x1234")
