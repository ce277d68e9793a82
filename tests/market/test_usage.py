"""Usage records and bills: measured from the run record, signed by the platform, never above
the quote; a bill shows quoted, used and paid, to whom, with the transaction hashes."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from flow_world import World
from market_world import APP_PRICE, DATA_PRICE

from eotrust.errors import IntegrityError, NotFoundError, PermissionDeniedError
from eotrust.market.bill import make_bill
from eotrust.market.notes import task_notes
from eotrust.market.payments import PaymentEvent
from eotrust.market.quote import Quote
from eotrust.market.service import quote_task, usage_task
from eotrust.market.signed import sign_document
from eotrust.market.usage import (
    KIND,
    Usage,
    UsageBody,
    check_usage,
    load_usage,
    make_usage,
)


def _quote(world: World, address: str) -> Quote:
    return quote_task(
        world.settings, world.catalog, world.store, address, world.parties["platform-owner"], chain=world.chain
    )


def _finished(world: World) -> tuple[str, Quote]:
    address = world.request().address
    quote = _quote(world, address)
    world.answer_all(address)
    assert world.node().recover() == {address: "Finished"}
    return address, quote


def test_usage_is_measured_from_the_run_record_and_never_above_the_quote(market: World) -> None:
    address, quote = _finished(market)
    usage = usage_task(
        market.settings, market.catalog, market.store, address, market.parties["platform-owner"], chain=market.chain
    )
    body = usage.body
    assert body.outcome == "finished" and body.run_cid is not None and body.quote_cid == quote.cid
    run = market.store.get_bytes(body.run_cid)
    assert b'"status":"succeeded"' in run
    lines = {line.item: line for line in body.lines}
    for line in body.lines:
        assert line.charged <= line.quoted and line.charged == min(line.measured, line.quoted)
    assert Decimal(lines["cpu"].quantity) > 0 and Decimal(lines["storage"].quantity) > 0
    assert lines["application"].charged == APP_PRICE
    assert lines["dataset:lulc"].charged == DATA_PRICE["labels"]
    owed = {o.address: o.amount for o in body.owed}
    assert owed[market.application.owner] == APP_PRICE
    assert body.charged == sum(owed.values()) and body.charged + body.refund == quote.body.total
    assert body.refund > 0  # the estimate errs high: the rest returns to the submitter
    assert load_usage(market.store, usage.cid, market.catalog)[0] == usage


def test_measures_above_the_quote_are_capped_and_forged_usage_is_refused(market: World) -> None:
    quote = _quote(market, market.request().address)
    huge = {item: Decimal(10**6) for item in ("flat", "cpu", "gpu", "memory", "storage", "duration")}
    platform = market.parties["platform-owner"]
    with pytest.raises(PermissionDeniedError, match="recorded by its platform owner"):
        make_usage(quote, None, None, huge, market.parties["submitter"])
    document = make_usage(quote, None, None, huge, platform)
    usage = Usage(cid="x", body=UsageBody.model_validate(document.body), signer=document.signer)
    check_usage(usage, quote)
    # no run: the run failed; the default "flat-fee" terms pay the platform its flat fee, nobody else anything
    assert usage.body.outcome == "failed"
    assert [(line.item, line.charged) for line in usage.body.lines if line.charged] == [("flat", quote.body.fail_fee)]
    assert usage.body.charged == quote.body.fail_fee > 0
    # the same measures on a finished run are capped at the quote, line by line
    finished = make_usage(quote, None, _succeeded(), huge, platform)
    lines = UsageBody.model_validate(finished.body).lines
    assert all(line.charged == line.quoted for line in lines) and any(line.measured > line.quoted for line in lines)
    # the platform signs a usage record charging more than the quote: refused
    raw = document.body
    raw["lines"][0]["charged"] = str(int(raw["lines"][0]["quoted"]) + 1)
    forged = sign_document(KIND, raw, platform)
    cid = market.store.put_bytes(forged.stored_bytes())
    with pytest.raises(IntegrityError, match="above the quote"):
        load_usage(market.store, cid)
    # the submitter signs a usage record: refused
    cid = market.store.put_bytes(sign_document(KIND, document.body, market.parties["submitter"]).stored_bytes())
    with pytest.raises(IntegrityError, match="not by the platform owner"):
        load_usage(market.store, cid)


def _succeeded() -> Any:
    from eotrust.workflow.record import RunRecord

    return RunRecord(
        workflow="w", workflow_cid="Qm", status="succeeded", started=0, ended=10**6, host="h", executor="local"
    )


def test_refund_terms_pay_nothing_for_a_failed_run(market: World) -> None:
    address = market.request().address
    quote = quote_task(
        market.settings,
        market.catalog,
        market.store,
        address,
        market.parties["platform-owner"],
        on_failure="refund",
        chain=market.chain,
    )
    document = make_usage(quote, None, None, {"flat": Decimal(1)}, market.parties["platform-owner"])
    body = UsageBody.model_validate(document.body)
    assert body.charged == 0 and body.refund == quote.body.total


@dataclass
class EscrowEvents:
    """The escrow's events as the payments interface reports them (the chain half lives in
    eotrust.ledger.escrow; this stands in for its event reader so the bill is tested alone)."""

    log: list[PaymentEvent] = field(default_factory=list)

    def events(self, task: str) -> list[PaymentEvent]:
        return list(self.log)

    def settle(self, task: str, usage_cid: str, amounts: list[int], sender: Any) -> str:
        raise NotImplementedError

    def funded(self, task: str) -> bool:
        return any(e.kind == "funded" for e in self.log)

    def connected(self, task: str) -> bool:
        return True

    def funded_quote(self, task: str) -> str | None:
        return None  # these events carry no quote: the bill reads the latest, the one funded here

    def recorded_results(self, task: str) -> frozenset[str] | None:
        return None  # no contract behind these events: every result record the platform signed counts


def test_a_bill_shows_quoted_used_and_paid_to_whom_with_the_transactions(market: World) -> None:
    with pytest.raises(NotFoundError, match="no quote"):
        make_bill(market.settings, market.catalog, market.store, "0x" + "0" * 40, None, chain=market.chain)
    address, quote = _finished(market)
    bill = make_bill(market.settings, market.catalog, market.store, address, None, chain=market.chain)
    assert bill.status == "quoted" and not bill.payments_connected and bill.usage_cid is None
    assert all(line.paid == 0 and line.used is None for line in bill.lines)
    usage = usage_task(
        market.settings, market.catalog, market.store, address, market.parties["platform-owner"], chain=market.chain
    )
    escrow = EscrowEvents([PaymentEvent("funded", quote.body.submitter, quote.body.total, "0xf1")])
    bill = make_bill(market.settings, market.catalog, market.store, address, escrow, chain=market.chain)
    assert bill.status == "funded" and bill.funded == quote.body.total and bill.funding_transactions == ["0xf1"]
    assert [line.used for line in bill.lines] == usage.amounts
    escrow.log += [PaymentEvent("owed", o.address, o.amount, f"0xs{i}") for i, o in enumerate(usage.body.owed)]
    escrow.log += [
        PaymentEvent("refunded", quote.body.submitter, usage.body.refund, "0xr"),
        PaymentEvent("withdrawn", market.application.owner, APP_PRICE, "0xw"),
    ]
    bill = make_bill(market.settings, market.catalog, market.store, address, escrow, chain=market.chain)
    assert bill.status == "settled" and bill.refunded == usage.body.refund == bill.refund
    app_line = next(line for line in bill.lines if line.address == market.application.owner)
    assert app_line.paid == app_line.withdrawn == APP_PRICE and app_line.transactions == ["0xs1", "0xw"]
    assert sum(line.paid for line in bill.lines) + bill.refunded == quote.body.total


def test_a_usage_record_charges_what_its_measures_and_the_quote_give(market: World) -> None:
    """The platform signs the usage record the escrow settles on: one that measured next to
    nothing but charged every line in full, or changed a rate, or measured NaN, was accepted and
    billed (audit, shown on the old code)."""
    quote = _quote(market, market.request().address)
    platform = market.parties["platform-owner"]
    tiny = {item: Decimal("0.000001") for item in ("flat", "cpu", "gpu", "memory", "storage", "duration")}
    honest = make_usage(quote, None, _succeeded(), tiny, platform).body
    check_usage(Usage(cid="x", body=UsageBody.model_validate(honest), signer=platform.account.address), quote)
    cpu = next(i for i, line in enumerate(honest["lines"]) if line["item"] == "cpu")

    def consistent(body: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
        """``body`` with ``lines``, and what it owes each payee and in all made to add up."""
        owed = [
            {
                "address": o["address"],
                "amount": str(sum(int(x["charged"]) for x in lines if x["payee"] == o["address"])),
            }
            for o in body["owed"]
        ]
        charged = sum(int(o["amount"]) for o in owed)
        return {
            **body,
            "lines": lines,
            "owed": owed,
            "charged": str(charged),
            "refund": str(quote.body.total - charged),
        }

    def forged(change: dict[str, str]) -> str:
        lines = [dict(line) for line in honest["lines"]]
        lines[cpu].update(change)
        cid: str = market.store.put_bytes(sign_document(KIND, consistent(honest, lines), platform).stored_bytes())
        return cid

    full = honest["lines"][cpu]["quoted"]
    for change, message in (
        ({"charged": full, "measured": full}, r"is not \d+ wei"),  # a measure its quantity does not give
        ({"rate": str(int(honest["lines"][cpu]["rate"]) * 2)}, "not a line of the quote at its rate"),
        ({"quantity": "NaN"}, "field lines.*quantity"),
    ):
        with pytest.raises(IntegrityError, match=message):
            load_usage(market.store, forged(change))
    # the measure right, the charge inflated to the whole line: refused as not following
    big = {**tiny, "cpu": Decimal(10**6)}
    capped = make_usage(quote, None, _succeeded(), big, platform).body
    assert capped["lines"][cpu]["charged"] == full
    with pytest.raises(IntegrityError, match="charges 0 wei; its measure and the quote's terms give"):
        lines = [dict(line) for line in capped["lines"]]
        lines[cpu]["charged"] = "0"
        body = consistent(capped, lines)
        load_usage(market.store, market.store.put_bytes(sign_document(KIND, body, platform).stored_bytes()))


def test_a_usage_record_claiming_more_than_the_run_record_is_named(market: World) -> None:
    """Attack: the platform signs a usage record for more CPU, storage and duration than its own
    run and result records show (each line still within the quote, so the escrow would pay it).
    Read with the catalogue — as a bill and `eotrust bill` read it — it is refused, naming the
    line; the honest record of the same run still loads. Before, it was taken as written."""
    from eotrust.market.signed import store_document
    from eotrust.market.usage import check_measured, run_of_task

    address, quote = _finished(market)
    platform = market.parties["platform-owner"]
    honest = usage_task(market.settings, market.catalog, market.store, address, platform, chain=market.chain)
    run_cid, run, _ = run_of_task(market.catalog, market.store, quote)
    assert run_cid == honest.body.run_cid and run is not None
    lines = {line.item: line for line in honest.body.lines}
    inflated = {
        item: Decimal(line.quantity)
        for item, line in lines.items()
        if item in ("flat", "cpu", "gpu", "memory", "storage", "duration")
    }
    inflated["cpu"] = Decimal(lines["cpu"].quantity) * 10
    forged = make_usage(quote, run_cid, run, inflated, platform)
    cid = store_document(market.store, forged)
    with pytest.raises(IntegrityError, match="line cpu says"):
        load_usage(market.store, cid, market.catalog)
    usage, _ = load_usage(market.store, cid)  # without the catalogue: only the arithmetic is checked
    assert usage.body.run_cid == run_cid
    with pytest.raises(IntegrityError, match="result records name"):
        check_measured(
            usage.model_copy(update={"body": usage.body.model_copy(update={"run_cid": None})}),
            quote,
            market.catalog,
            market.store,
        )
    assert load_usage(market.store, honest.cid, market.catalog)[0] == honest
    index = task_notes(market.settings, market.chain, "usage", address)
    (index / f"9999-{honest.body.measured_at}_{cid}").touch()  # the newest usage record of the task
    with pytest.raises(IntegrityError, match="line cpu says"):
        make_bill(market.settings, market.catalog, market.store, address, None, chain=market.chain)


def test_a_failed_run_is_billed_its_failure_terms(market: World) -> None:
    """A failed run's log is catalogued with no run record: recording its usage read run record
    "" and failed (an audit), so a failed task could never be billed. Now it is measured as a
    run that did not finish (the flat fee under the default terms), and re-measured alike."""
    address = market.request(fail=1).address
    quote = _quote(market, address)
    market.answer_all(address)
    assert market.node().recover() == {address: "Failed"}
    platform = market.parties["platform-owner"]
    usage = usage_task(market.settings, market.catalog, market.store, address, platform, chain=market.chain)
    assert usage.body.outcome == "failed" and usage.body.run_cid is None
    assert usage.body.charged == quote.body.fail_fee and usage.body.refund == quote.body.total - quote.body.fail_fee
    assert load_usage(market.store, usage.cid, market.catalog)[0] == usage


def test_result_records_the_contract_does_not_hold_are_not_measured(market: World) -> None:
    """Attack (an audit): the storage line counted every result record the platform signed for
    the task, so one more record (a terabyte, a CID never recorded on the contract) raised the
    charge up to the quote's line, and broke the bill of the honest usage record. Where the
    task is a contract, only the results it holds are measured."""
    from eotrust.catalog.entries import ResultInfo
    from eotrust.market.payments import payments_of

    address, quote = _finished(market)
    platform = market.parties["platform-owner"]
    payments = payments_of(market.chain)
    honest = usage_task(
        market.settings, market.catalog, market.store, address, platform, payments=payments, chain=market.chain
    )
    storage = next(line.quantity for line in honest.body.lines if line.item == "storage")
    real = market.catalog.results(task=address)[0].body
    market.catalog.register(
        platform,
        ResultInfo(
            task=address,
            name="padding",
            cid=market.datasets["labels"].body.cid,  # stored, but never a result of this task
            plaintext_cid=market.datasets["labels"].body.cid,
            size=10**12,
            run_cid=real.run_cid,
            recipient=real.recipient,
        ),
    )
    again = usage_task(
        market.settings, market.catalog, market.store, address, platform, payments=payments, chain=market.chain
    )
    assert next(line.quantity for line in again.body.lines if line.item == "storage") == storage
    bill = make_bill(market.settings, market.catalog, market.store, address, payments, chain=market.chain)
    assert bill.usage_cid == again.cid
    assert load_usage(market.store, honest.cid, market.catalog, payments.recorded_results(address))[0] == honest
