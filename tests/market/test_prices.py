"""Prices and data-use policies are fields of the signed catalogue records: bounded, signed
with the record, and a record without them keeps the id it always had."""

from __future__ import annotations

import pytest
from eth_account import Account
from sqlalchemy import create_engine, text

from eotrust.catalog.entries import (
    MAX_WEI,
    ApplicationInfo,
    DatasetInfo,
    Kind,
    PlatformInfo,
    make_body,
)
from eotrust.catalog.service import Catalog
from eotrust.cid import cid_of_bytes
from eotrust.errors import IntegrityError, InvalidInputError
from eotrust.market.prices import parse_amount
from eotrust.settings import Settings

AGE = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"


def test_out_of_bounds_prices_and_malformed_policies_are_refused() -> None:
    for bad in (-1, MAX_WEI + 1, 1.5, "1e18", "-3", True, "12 wei", "9" * 41):
        with pytest.raises(InvalidInputError, match="prices.cpu_hour"):
            make_body(PlatformInfo, name="p", age_recipient=AGE, prices={"cpu_hour": bad})
    with pytest.raises(InvalidInputError, match="prices.surge"):
        make_body(PlatformInfo, name="p", age_recipient=AGE, prices={"surge": 1})
    for entry in (
        {},
        {"name": "app"},
        {"cid": "Qm", "name": "app", "owner": "0x" + "1" * 40},
        {"name": "app", "owner": "not-an-address"},
    ):
        with pytest.raises(InvalidInputError, match="policy.applications.0"):
            make_body(DatasetInfo, title="t", cid="Qm", size=1, policy={"applications": [entry]})
    # a price as a decimal string or an integer is the same price
    price = make_body(ApplicationInfo, name="a", workflow_cid="Qm", price={"per_use": "10"}).price
    assert price is not None and price.per_use == 10


def test_prices_are_signed_with_the_record_and_unpriced_records_keep_their_ids(settings: Settings) -> None:
    owner = Account.create()
    catalog = Catalog(settings)
    plain = catalog.register(owner, PlatformInfo(name="p", age_recipient=AGE))
    assert b"prices" not in plain.signed_bytes()  # the bytes every record made before prices had
    assert plain.id == cid_of_bytes(plain.signed_bytes())
    priced = catalog.register(owner, PlatformInfo(name="p", age_recipient=AGE, prices={"cpu_hour": 10**18, "flat": 1}))
    assert b'"cpu_hour":"1000000000000000000"' in priced.signed_bytes()  # wei as a decimal string in JSON
    prices = catalog.get(priced.id, Kind.PLATFORM).body.prices
    assert prices is not None and prices.cpu_hour == 10**18
    # a cheaper price written into the database behind the owner's back is named
    engine = create_engine(settings.catalog_database_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE catalog_platforms SET prices = :p WHERE id = :id"),
            {
                "p": '{"cpu_hour": "1", "gpu_hour": "0", "memory_gb_hour": "0", "storage_gb": "0", "flat": "1"}',
                "id": priced.id,
            },
        )
    engine.dispose()
    with pytest.raises(IntegrityError, match="field 'prices' does not match the signed record"):
        catalog.get(priced.id, Kind.PLATFORM)


def test_amounts_of_any_length_are_read_exactly_or_refused_for_what_they_are() -> None:
    # a number of many digits is a number: too large says so, leading and trailing zeros change nothing
    with pytest.raises(InvalidInputError, match="above the largest price"):
        parse_amount("9" * 80 + "ether")
    with pytest.raises(InvalidInputError, match="above the largest price"):
        parse_amount("1" + "0" * 70)
    assert parse_amount("0" * 70 + "12gwei") == 12 * 10**9
    assert parse_amount("1." + "0" * 70 + "ether") == 10**18
    assert parse_amount(f"{MAX_WEI}") == MAX_WEI
    # what is not an amount of whole wei is refused as that
    for amount in ("0." + "0" * 70 + "1ether", "1" * 61 + "x", "0.5wei", "nanether", "-1gwei"):
        with pytest.raises(InvalidInputError, match="not an amount of ether"):
            parse_amount(amount)
