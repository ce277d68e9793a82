"""Canonical JSON, the one byte form that eotrust hashes and signs."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eotrust.cid import canonical_json, canonical_text, cid_of_bytes
from eotrust.errors import InvalidInputError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def test_sorted_compact_utf8() -> None:
    assert canonical_json({"b": [1, 2.5], "a": "é✓", "c": None}) == '{"a":"é✓","b":[1,2.5],"c":null}'.encode()
    assert canonical_text({"z": {"y": 1, "x": 2}}) == '{"z":{"x":2,"y":1}}'


@given(JSON)
def test_round_trip_and_key_order_independence(value: object) -> None:
    data = canonical_json(value)
    assert json.loads(data) == value
    assert canonical_json(json.loads(data)) == data


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), {"deep": [1, float("nan")]}])
def test_attack_nan_and_infinity_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="NaN and Infinity"):
        canonical_json(bad)


def test_not_json_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not canonical JSON"):
        canonical_json({"x": object()})


def test_a_known_document_keeps_its_cid() -> None:
    # A stored test vector: changing the canonical form would silently rename every record.
    doc = {
        "kind": "dataset",
        "owner": "0xAbC",
        "created": "2024-06-01T12:00:00Z",
        "body": {"title": "Ljubljana", "size": 1},
    }
    assert canonical_json(doc) == (
        b'{"body":{"size":1,"title":"Ljubljana"},"created":"2024-06-01T12:00:00Z","kind":"dataset","owner":"0xAbC"}'
    )
    assert cid_of_bytes(canonical_json(doc)) == "QmYH5DG2AtmZgyUhtoaMWeU9DCpWWbSVRcHNY4qtsiu6Fm"
