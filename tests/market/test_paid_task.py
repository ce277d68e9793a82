"""A paid task end to end on the embedded chain: quoted (the platform signs the escrow terms),
funded (which locks it), run by the platform's node, settled from the signed usage record,
and every party withdraws exactly what the quote and the usage say. The attacks first."""

from __future__ import annotations

import json
import time

import pytest
from chain_clock import mine_at
from flow_world import World
from market_world import open_paid
from waiting import wait_for

from eotrust.errors import EotrustError, IntegrityError, InvalidInputError, PermissionDeniedError, StateError
from eotrust.ledger.escrow import EscrowClient
from eotrust.market.bill import make_bill
from eotrust.market.payments import payments_of
from eotrust.market.quote import Quote, latest_quote
from eotrust.market.service import escrow_quote_of, fund_task, quote_task, usage_task
from eotrust.market.usage import Usage, latest_usage


def _fee(world: World, tx_hash: str) -> int:
    receipt = world.chain.w3.eth.get_transaction_receipt(tx_hash)
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def _quote(world: World, address: str) -> Quote:
    return quote_task(
        world.settings, world.catalog, world.store, address, world.parties["platform-owner"], chain=world.chain
    )


def test_a_paid_task_is_quoted_funded_run_settled_and_everyone_withdraws_its_share(market: World) -> None:
    world, p = market, market.parties
    address = open_paid(world)
    escrow = EscrowClient.for_task(world.chain, address)
    assert escrow.required(address)
    # unfunded, a paid task cannot be locked, so never answered nor started
    with pytest.raises(EotrustError):
        world.task(address).lock(p["submitter"].account)
    assert world.state(address) == "Initialized" and world.node().recover() == {}
    with pytest.raises(EotrustError):  # no quote yet
        fund_task(world.settings, world.catalog, world.store, world.chain, address, p["submitter"])

    quote = _quote(world, address)
    signed = escrow_quote_of(world.settings, quote)
    assert signed.signer() == p["platform-owner"].account.address
    assert list(signed.quote.payees) == [x.address for x in quote.body.payees]  # same payee order
    assert signed.quote.total == quote.body.total

    # attacks: someone else funds; the escrow terms altered (a lower total) after signing
    with pytest.raises(PermissionDeniedError):
        fund_task(world.settings, world.catalog, world.store, world.chain, address, p["owner-a"])
    path = world.settings.path("market", "escrow", address.lower()) / f"{quote.cid}.json"
    genuine = path.read_text()
    data = json.loads(genuine)
    data["quote"]["maxima"] = [str(int(m) // 2) for m in data["quote"]["maxima"]]
    data["quote"]["minima"] = [str(int(m) // 2) for m in data["quote"]["minima"]]  # well-formed, not signed
    data["quote"]["total"] = str(sum(int(m) for m in data["quote"]["maxima"]))
    path.write_text(json.dumps(data))
    with pytest.raises(IntegrityError):
        fund_task(world.settings, world.catalog, world.store, world.chain, address, p["submitter"])
    # ... and sent to the contract anyway: the signature is not the platform owner's over them
    from eotrust.ledger.escrow import SignedQuote

    forged = SignedQuote.from_json(data)
    with pytest.raises(EotrustError, match="(?i)signature"):
        escrow.fund(address, forged, sender=p["submitter"].account)
    # an expired quote, signed by the platform owner all the same
    expired = escrow.quote(**{**quote.escrow_terms(), "valid_until": int(time.time()) - 3600}).sign(
        p["platform-owner"].account
    )
    with pytest.raises(EotrustError, match="(?i)expired"):
        escrow.fund(address, expired, sender=p["submitter"].account)
    path.write_text(genuine)
    assert world.state(address) == "Initialized" and not escrow.funded(address)

    held = escrow.balance()
    funded_quote, tx = fund_task(world.settings, world.catalog, world.store, world.chain, address, p["submitter"])
    assert funded_quote.cid == quote.cid and world.state(address) == "RequestsLocked"
    assert escrow.balance() == held + quote.body.total
    with pytest.raises(EotrustError):  # never twice
        fund_task(world.settings, world.catalog, world.store, world.chain, address, p["submitter"])

    world.answer_all(address)
    assert world.node().recover() == {address: "Finished"}
    found = latest_usage(world.settings, world.store, address, world.catalog, chain=world.chain)
    assert found is not None
    usage, used_quote = found
    assert used_quote.cid == quote.cid and usage.body.outcome == "finished"
    assert all(o.amount <= x.max for o, x in zip(usage.body.owed, quote.body.payees, strict=True))
    assert usage.body.charged + usage.body.refund == quote.body.total

    # each party withdraws exactly what the usage record owes it; the submitter the rest
    owed = {o.address: o.amount for o in usage.body.owed}
    owed[p["submitter"].account.address] = owed.get(p["submitter"].account.address, 0) + usage.body.refund
    withdrawals = {}
    balances = {name: world.chain.balance(party.account.address) for name, party in p.items()}
    for name, party in p.items():
        expected = owed.get(party.account.address, 0)
        assert escrow.owed(party.account.address) == expected, name
        if expected:
            assert escrow.withdraw(party.account) == expected
            assert escrow.last_transaction is not None
            withdrawals[name] = escrow.last_transaction.tx_hash
            with pytest.raises(EotrustError):  # never twice
                escrow.withdraw(party.account)
    assert set(withdrawals) == {"submitter", "owner-a", "owner-b", "algorithm-owner", "platform-owner"}
    assert escrow.balance() == held

    for name, party in p.items():  # to the wei: what it was owed, less the gas of its withdrawal
        assert world.chain.balance(party.account.address) == balances[name] + owed[party.account.address] - _fee(
            world, withdrawals[name]
        ), name

    # a newer quote (the submitter may ask for one, the price may change) moves nothing: the bill
    # and any usage record follow the funded quote (before: the bill showed the newest quote,
    # and `usage` measured against it while the escrow settled on the funded one)
    newer = _quote(world, address)
    assert newer.cid != quote.cid
    with pytest.raises(InvalidInputError, match=f"was funded with quote {quote.cid}, not {newer.cid}"):
        usage_task(
            world.settings,
            world.catalog,
            world.store,
            address,
            p["platform-owner"],
            quote_cid=newer.cid,
            payments=payments_of(world.chain),
            chain=world.chain,
        )
    bill = make_bill(world.settings, world.catalog, world.store, address, payments_of(world.chain), chain=world.chain)
    assert bill.quote_cid == quote.cid
    assert bill.status == "settled" and bill.funded == quote.body.total and bill.funding_transactions == [tx]
    assert bill.refunded == usage.body.refund
    for line in bill.lines:
        assert line.paid == line.used == owed_line(usage, line.address)
        assert line.withdrawn == line.paid
        name = next(n for n, party in p.items() if party.account.address == line.address)
        assert withdrawals[name] in line.transactions


def owed_line(usage: Usage, address: str) -> int:
    return next(o.amount for o in usage.body.owed if o.address == address)


def test_a_nacked_paid_task_is_refunded_in_full_by_the_node(market: World) -> None:
    world, p = market, market.parties
    address = open_paid(world)
    quote = _quote(world, address)
    fund_task(world.settings, world.catalog, world.store, world.chain, address, p["submitter"])
    escrow = EscrowClient.for_task(world.chain, address)
    world.task(address).nack_application(p["algorithm-owner"].account)
    assert world.node().advance(address) == "Nacked"
    assert not escrow.funded(address) and escrow.owed(p["submitter"].account.address) == quote.body.total
    assert escrow.owed(p["platform-owner"].account.address) == 0
    world.node().advance(address)  # again: nothing twice
    assert escrow.owed(p["submitter"].account.address) == quote.body.total
    bill = make_bill(world.settings, world.catalog, world.store, address, payments_of(world.chain), chain=world.chain)
    assert (
        bill.status == "refunded" and bill.refunded == quote.body.total and all(line.paid == 0 for line in bill.lines)
    )


def test_a_failed_paid_task_pays_the_platform_its_failure_fee_and_the_rest_back(market: World) -> None:
    world, p = market, market.parties
    address = open_paid(world, fail=1)
    quote = _quote(world, address)
    fund_task(world.settings, world.catalog, world.store, world.chain, address, p["submitter"])
    escrow = EscrowClient.for_task(world.chain, address)
    world.answer_all(address)
    assert world.node().recover() == {address: "Failed"}
    assert quote.body.fail_fee > 0 and not escrow.funded(address)
    assert escrow.owed(p["platform-owner"].account.address) == quote.body.fail_fee
    assert escrow.owed(p["submitter"].account.address) == quote.body.total - quote.body.fail_fee
    for name in ("owner-a", "owner-b", "algorithm-owner"):
        assert escrow.owed(p[name].account.address) == 0
    bill = make_bill(world.settings, world.catalog, world.store, address, payments_of(world.chain), chain=world.chain)
    platform_line = next(x for x in bill.lines if x.address == p["platform-owner"].account.address)
    assert platform_line.paid == quote.body.fail_fee and bill.refunded == quote.body.total - quote.body.fail_fee
    assert bill.status == "released"  # before: "settled", as if the platform had settled the task


def test_an_unpaid_task_cannot_be_funded(market: World) -> None:
    world = market
    address = world.request().address  # created unpaid, locked
    _quote(world, address)
    with pytest.raises(StateError):
        fund_task(world.settings, world.catalog, world.store, world.chain, address, world.parties["submitter"])
    assert latest_quote(world.settings, world.store, address, world.catalog, chain=world.chain).body.task == address


def test_a_fresh_quote_can_be_funded_when_the_chains_clock_runs_ahead(market: World) -> None:
    """The escrow judges a quote's expiry by the chain's clock (``block.timestamp``); the embedded
    chain's runs ahead of the wall clock while it mines more than a block a second. A quote dated
    by the wall clock lost that lead from its validity, and with a lead longer than the validity
    was born expired on chain: fund_task's own check passed and the escrow refused it. Now a quote
    is dated, and checked before funding, by the chain's clock."""
    world = market
    address = open_paid(world)
    mine_at(world.chain, world.chain.latest_timestamp() + 7200)  # the chain two hours ahead
    quote = quote_task(
        world.settings,
        world.catalog,
        world.store,
        address,
        world.parties["platform-owner"],
        chain=world.chain,
        valid_s=3600,
    )
    _, tx = fund_task(world.settings, world.catalog, world.store, world.chain, address, world.parties["submitter"])
    assert tx and world.state(address) == "RequestsLocked"
    assert quote.escrow_terms()["valid_until"] > world.chain.latest_timestamp()


def _funded_for_a_minute(world: World) -> tuple[str, Quote, EscrowClient]:
    """A paid task quoted for a minute and a minute's run (the deadline two minutes on), funded."""
    p = world.parties
    address = open_paid(world)
    quote = quote_task(
        world.settings,
        world.catalog,
        world.store,
        address,
        p["platform-owner"],
        chain=world.chain,
        valid_s=60,
        run_s=60,
    )
    fund_task(world.settings, world.catalog, world.store, world.chain, address, p["submitter"])
    return address, quote, EscrowClient.for_task(world.chain, address)


@pytest.mark.parametrize("silent", ["algorithm-owner", "platform", "late platform"])
def test_past_its_deadline_a_paid_task_is_expired_by_the_node_and_all_refunded(market: World, silent: str) -> None:
    """Attack: a party that never answers (the algorithm owner) or a platform that started and
    never finished held the submitter's money in the escrow for ever. Past the quote's
    deadline the platform's node expires the task instead of starting or settling it (it
    could no longer be paid), and the bill shows everything refunded."""
    world, p = market, market.parties
    address, quote, escrow = _funded_for_a_minute(world)
    if silent != "algorithm-owner":
        world.answer_all(address)
        world.task(address).start(p["platform-owner"].account)  # started, then the node went quiet
        if silent == "late platform":  # ... after recording a result: the owners are paid their prices
            world.task(address).add_result(p["platform-owner"].account, quote.cid)
        assert world.state(address) == "Running"
    else:
        assert world.node().recover() == {}  # waiting for the algorithm owner: nothing to do yet
    deadline = escrow.quote_of(address)
    assert deadline is not None
    mine_at(world.chain, deadline.deadline + 1)
    # a node's scan (`node run --once`, each start) expires it; before, a task still waiting
    # for an answer was skipped by every scan, and only a direct advance expired it
    assert world.node().recover() == {address: "Expired"}
    minima = dict(zip(quote.escrow_terms()["payees"], quote.escrow_terms()["minima"], strict=True))
    owners = {a: m for a, m in minima.items() if m} if silent == "late platform" else {}
    assert owners or silent != "late platform"
    refund = quote.body.total - sum(owners.values())
    assert not escrow.funded(address) and escrow.owed(p["submitter"].account.address) == refund
    for name in ("platform-owner", "owner-a", "owner-b", "algorithm-owner"):
        address_of = p[name].account.address
        assert escrow.owed(address_of) == owners.get(address_of, 0), name
    assert world.node().advance(address) == "Expired"  # again: nothing twice
    bill = make_bill(world.settings, world.catalog, world.store, address, payments_of(world.chain), chain=world.chain)
    assert bill.refunded == refund and {x.address: x.paid for x in bill.lines if x.paid} == owners
    # the bill says what happened: expired (before, "settled" where a result had been recorded,
    # as if the platform had settled the task, and "refunded" otherwise)
    assert bill.status == "expired"


def test_the_platform_cannot_settle_the_owners_for_less_than_their_prices(market: World) -> None:
    """Attack: the escrow let the platform settle a finished task paying each payee anything up
    to its maximum: the algorithm and data owners 0, the platform its whole maximum. The quote's
    escrow terms now hold each payee's fixed price (per run, per use) as its minimum."""
    world, p = market, market.parties
    address = open_paid(world)
    quote = _quote(world, address)
    fund_task(world.settings, world.catalog, world.store, world.chain, address, p["submitter"])
    terms = quote.escrow_terms()
    platform = p["platform-owner"].account.address
    owners = {a: sum(i.cost for i in quote.body.items if i.payee == a) for a in terms["payees"] if a != platform}
    assert len(owners) == 3 and all(owners.values())  # the algorithm owner and two data owners, each priced
    assert terms["minima"] == [owners.get(a, 0) for a in terms["payees"]]  # the platform's is measured
    world.answer_all(address)
    task = world.task(address)
    task.start(p["platform-owner"].account)
    task.add_result(p["platform-owner"].account, quote.cid)
    escrow = EscrowClient.for_task(world.chain, address)
    greedy = {platform: next(x.max for x in quote.body.payees if x.address == platform)}
    with pytest.raises(EotrustError, match="below the quoted minimum"):
        escrow.settle(address, quote.cid, greedy, sender=p["platform-owner"].account)
    assert world.state(address) == "Running" and escrow.funded(address)


def test_a_following_node_expires_a_waiting_task_when_the_clock_passes_its_deadline(market: World) -> None:
    """A deadline passing emits no event: the node following the ledger watches the deadlines of
    the funded tasks it waits on and expires each once the chain's clock has passed it."""
    import threading

    world = market
    address, _, escrow = _funded_for_a_minute(world)
    funded = escrow.quote_of(address)
    assert funded is not None
    node, stop = world.node(), threading.Event()
    follower = threading.Thread(target=node.run, args=(stop,), kwargs={"poll_s": 0.05}, daemon=True)
    follower.start()
    try:
        # the node's first scan notes the deadline and, before it, leaves the task waiting
        wait_for(lambda: address in node._deadlines, timeout_s=30, what="the node noting the deadline")
        assert world.state(address) == "RequestsLocked"
        mine_at(world.chain, funded.deadline + 1)
        wait_for(lambda: world.state(address) == "Expired", timeout_s=30, what="the node expiring the task")
        assert not escrow.funded(address)
    finally:
        stop.set()
        follower.join(timeout=30)
    assert not follower.is_alive()


def test_the_node_does_not_start_a_paid_task_it_cannot_finish_before_its_deadline(market: World) -> None:
    """Attack on the platform's own interest: a task funded close to its deadline (a short
    `--run-for`, or the parties answering late) was started anyway; its run outlasted the
    deadline, so it could never be settled and the platform's work went unpaid. The node now
    starts a paid task only while the quote's own estimated duration fits before the
    deadline; otherwise it logs why and the task expires at the deadline (all refunded)."""
    world, p = market, market.parties
    address, quote, escrow = _funded_for_a_minute(world)
    world.answer_all(address)
    funded = escrow.quote_of(address)
    assert funded is not None
    left = funded.deadline - world.chain.latest_timestamp()
    assert 0 < left < float(quote.body.estimated_duration_s)  # the run cannot fit before the deadline
    assert world.node().advance(address) == "RequestsLocked"  # before: "Finished", settling refused
    assert any("would end after the quote's deadline" in line for line in world.logs), world.logs
    mine_at(world.chain, funded.deadline + 1)
    assert world.node().recover() == {address: "Expired"}
    assert escrow.owed(p["submitter"].account.address) == quote.body.total
