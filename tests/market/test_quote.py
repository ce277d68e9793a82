"""Quotes: itemised (estimate × rate = cost), signed by the task's platform owner, with an expiry;
and every way to fake one refused."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from flow_world import World
from market_world import APP_PRICE, DATA_PRICE, RATES

from eotrust.catalog.entries import MAX_WEI, PlatformPrices
from eotrust.errors import (
    IntegrityError,
    InvalidInputError,
    PermissionDeniedError,
    StateError,
)
from eotrust.market.estimate import (
    UNMEASURED_STEP_S,
    declared_resources,
    estimate,
    history,
)
from eotrust.market.prices import task_prices
from eotrust.market.quote import KIND as QUOTE_KIND
from eotrust.market.quote import Quote, cost, load_quote, make_quote
from eotrust.market.service import quote_task
from eotrust.market.signed import sign_document


def _quote(world: World, address: str) -> Quote:
    return quote_task(
        world.settings, world.catalog, world.store, address, world.parties["platform-owner"], chain=world.chain
    )


def test_a_quote_is_itemised_and_signed_by_the_platform_with_an_expiry(market: World) -> None:
    address = market.request().address
    quote = _quote(market, address)
    body = quote.body
    assert quote.signer == market.parties["platform-owner"].account.address
    assert body.submitter == market.parties["submitter"].account.address and body.task == address
    lines = {line.item: line for line in body.items}
    assert set(lines) == {
        "flat",
        "cpu",
        "gpu",
        "memory",
        "storage",
        "duration",
        "application",
        "dataset:cloud_mask",
        "dataset:lulc",
    }
    for line in body.items:
        assert line.cost == cost(Decimal(line.quantity), line.rate)
    # no past run: each of the two steps is given UNMEASURED_STEP_S on one core
    assert Decimal(lines["cpu"].quantity) >= 2 * UNMEASURED_STEP_S / 3600
    assert lines["cpu"].rate == RATES["cpu_hour"] and lines["flat"].cost == RATES["flat"]
    assert lines["application"].cost == APP_PRICE and lines["application"].payee == market.application.owner
    assert (
        lines["dataset:lulc"].cost == DATA_PRICE["labels"] and lines["dataset:cloud_mask"].cost == DATA_PRICE["clouds"]
    )
    assert body.total == sum(line.cost for line in body.items) == sum(p.max for p in body.payees)
    assert [p.roles for p in body.payees] == [["platform"], ["application"], ["dataset:cloud_mask"], ["dataset:lulc"]]
    assert "no past run" in body.basis
    assert body.valid_until > body.created and not quote.expired()
    # stored by CID and read back checked, against the catalogue too
    assert load_quote(market.store, quote.cid, market.catalog) == quote
    terms = quote.escrow_terms()
    assert terms["quote_cid"] == quote.cid and sum(terms["maxima"]) == body.total
    assert terms["platform"] == body.platform and terms["fail_fee"] == lines["flat"].cost  # the default: flat-fee


def test_a_quote_not_signed_by_the_platform_owner_is_refused(market: World) -> None:
    address = market.request().address
    prices = task_prices(market.catalog, address)
    est = estimate(
        *declared_resources(market.store, market.application.body.workflow_cid)[:1],
        history(market.catalog, market.store, market.application.body.workflow_cid),
        inputs_bytes=0,
    )
    with pytest.raises(PermissionDeniedError, match="signed by its platform's owner"):
        make_quote(prices, est, market.parties["submitter"])
    genuine = _quote(market, address)
    mallory = market.parties["submitter"]
    # the submitter signs a cheaper quote naming itself as the platform owner …
    forged = {**genuine.body.model_dump(mode="json"), "platform": mallory.account.address}
    cid = market.store.put_bytes(sign_document(QUOTE_KIND, forged, mallory).stored_bytes())
    with pytest.raises(IntegrityError, match="does not own platform"):
        load_quote(market.store, cid, market.catalog)
    # … or naming the real platform owner, with its own signature
    doc = sign_document(QUOTE_KIND, genuine.body.model_dump(mode="json"), mallory)
    cid = market.store.put_bytes(doc.stored_bytes())
    with pytest.raises(IntegrityError, match="signed by"):
        load_quote(market.store, cid, market.catalog)


def test_a_tampered_total_is_refused(market: World) -> None:
    quote = _quote(market, market.request().address)
    raw = json.loads(market.store.get_bytes(quote.cid))
    raw["body"]["total"] = "1"
    cid = market.store.put_bytes(json.dumps(raw).encode())
    with pytest.raises(IntegrityError, match="signature was not made by its signer"):
        load_quote(market.store, cid)
    # the platform itself cannot sign a total that its lines do not add up to
    body = {**quote.body.model_dump(mode="json"), "total": str(quote.body.total + 1)}
    cid = market.store.put_bytes(sign_document(QUOTE_KIND, body, market.parties["platform-owner"]).stored_bytes())
    with pytest.raises(IntegrityError, match="total"):
        load_quote(market.store, cid)
    # nor a failure fee its terms do not give
    body = {**quote.body.model_dump(mode="json"), "fail_fee": str(quote.body.total)}
    cid = market.store.put_bytes(sign_document(QUOTE_KIND, body, market.parties["platform-owner"]).stored_bytes())
    with pytest.raises(IntegrityError, match="failure fee"):
        load_quote(market.store, cid)


def test_an_expired_quote_is_refused(market: World) -> None:
    from eotrust.market.quote import check_quote

    quote = _quote(market, market.request().address)
    check_quote(quote, market.catalog, unexpired=True)
    later = datetime.fromisoformat(quote.body.valid_until) + timedelta(seconds=1)
    assert quote.expired(later)
    with pytest.raises(StateError, match="expired"):
        check_quote(quote, market.catalog, unexpired=True, now=later)


def test_huge_and_negative_numbers_are_refused(market: World) -> None:
    address = market.request().address
    owner = market.parties["platform-owner"]
    for valid_s in (-1, 0, 10**12):
        with pytest.raises(InvalidInputError, match="valid for"):
            quote_task(
                market.settings, market.catalog, market.store, address, owner, valid_s=valid_s, chain=market.chain
            )
    prices = task_prices(market.catalog, address)
    est = estimate({}, history(market.catalog, market.store, "none"), inputs_bytes=10**12)
    dear = dataclasses.replace(prices, compute=PlatformPrices(cpu_hour=MAX_WEI, storage_gb=MAX_WEI, flat=MAX_WEI))
    with pytest.raises(InvalidInputError, match="storage line comes to .* over the largest price"):
        make_quote(dear, est, owner)
    # every line within bounds, their sum not
    dear = dataclasses.replace(prices, compute=PlatformPrices(flat=MAX_WEI))
    with pytest.raises(InvalidInputError, match="total .* over the largest price"):
        make_quote(dear, est, owner)


def test_quotes_learn_from_past_runs_of_the_workflow(market: World) -> None:
    first = market.request().address
    before = _quote(market, first)
    market.answer_all(first)
    assert market.node().recover() == {first: "Finished"}
    after = _quote(market, market.request().address)
    assert "the longest of 1 past run(s)" in after.body.basis and "most a past task stored" in after.body.basis
    cpu = {q.cid: Decimal(next(i.quantity for i in q.body.items if i.item == "cpu")) for q in (before, after)}
    # the tiny application runs in seconds, far below the unmeasured guess
    assert cpu[after.cid] < cpu[before.cid]
    storage = next(i for i in after.body.items if i.item == "storage")
    assert Decimal(storage.quantity) > 0
    # dated by the chain's clock (which the escrow judges its expiry by)
    assert datetime.fromisoformat(after.body.created) <= datetime.fromtimestamp(market.chain.next_block_time(), UTC)


def test_a_quote_for_other_terms_than_the_tasks_is_refused(market: World) -> None:
    from eotrust.market.service import usage_task

    address = market.request().address
    genuine = _quote(market, address)
    # the platform owner itself signs a quote naming another application than the task's record
    body = {**genuine.body.model_dump(mode="json"), "application_id": market.datasets["labels"].id}
    cid = market.store.put_bytes(sign_document(QUOTE_KIND, body, market.parties["platform-owner"]).stored_bytes())
    with pytest.raises(IntegrityError, match="does not match the catalogue's record of task"):
        load_quote(market.store, cid, market.catalog)
    other = market.request().address
    with pytest.raises(InvalidInputError, match=f"is for task {address}"):
        usage_task(
            market.settings,
            market.catalog,
            market.store,
            other,
            market.parties["platform-owner"],
            quote_cid=genuine.cid,
            chain=market.chain,
        )


def test_a_market_signature_is_bound_to_its_kinds_signing_domain(market: World) -> None:
    from eotrust.crypto.signing import Domain, record_text
    from eotrust.errors import IntegrityError as Integrity
    from eotrust.market.signed import SignedDocument

    doc = sign_document(QUOTE_KIND, {"task": "0x" + "1" * 40}, market.parties["platform-owner"])
    doc.check()
    assert record_text(Domain.QUOTE, 1, doc.payload()).startswith("eotrust market quote v1\n")
    for kind in ("eotrust-usage/1", "eotrust-refusal/1", "eotrust-other/1"):  # replayed as another format
        moved = SignedDocument(**{**doc.model_dump(), "kind": kind})
        with pytest.raises(Integrity):
            moved.check()


def test_a_signed_quote_with_numbers_or_times_that_are_not_is_one_line(market: World) -> None:
    """A quote is read by others (the submitter's `quote`, `fund`, the server's /quotations):
    its platform signed quantities of NaN, Infinity or 1e999990, a duration of 'abc' or an
    expiry of 'zzz' (tracebacks: decimal's and datetime's errors), or a string holding a lone
    surrogate, which canonical JSON could not encode (a traceback, for any signed kind)."""
    quote = _quote(market, market.request().address)
    owner = market.parties["platform-owner"]
    good = quote.body.model_dump(mode="json")
    line = good["items"][0]
    for field, value in (
        ("quantity", "NaN"),
        ("quantity", "Infinity"),
        ("quantity", "1e999990"),
        ("quantity", "-1"),
        ("estimated_duration_s", "abc"),
        ("valid_until", "zzz"),
        ("created", "2026-12-03T10:00:00"),
    ):
        body = (
            {**good, "items": [{**line, field: value}, *good["items"][1:]]}
            if field == "quantity"
            else {**good, field: value}
        )
        cid = market.store.put_bytes(sign_document(QUOTE_KIND, body, owner).stored_bytes())
        with pytest.raises(IntegrityError, match=rf"quote {cid}: field [a-z_.0-9]*{field}: ") as err:
            load_quote(market.store, cid)
        assert "\n" not in str(err.value)
    raw = json.loads(market.store.get_bytes(quote.cid))
    text = json.dumps({**raw, "body": {**raw["body"], "basis": "\ud800"}})  # ensure_ascii: "\\ud800" stays escaped
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        load_quote(market.store, market.store.put_bytes(text.encode()))
