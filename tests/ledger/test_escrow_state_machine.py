"""Property: random sequences of escrow moves (good and bad fundings, settlements above a
payee's maximum and below its minimum, releases, withdrawals by anyone, the chain's clock moved
past a quote's deadline, expiries) on paid tasks, against a plain Python model of who is owed
what. After every move the contract agrees with the model on the outcome (the same contract
error, or success), on every party's credit and on the escrow's ether: money is
conserved (the escrow holds exactly what is locked plus what is owed), a withdrawal pays
exactly the party's share and only once, refunds are exact, an expired or tampered quote
moves nothing, and past its deadline a task is expired (all back), never settled, and a late
failure pays no fee."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest
from chain_clock import mine_at
from escrow_helpers import paid_task, quote_for
from eth_typing import HexStr
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from ledger_helpers import CID_A, CID_B, Parties, recipient

from eotrust.ledger import Chain, ContractRevertError, TaskClient, TaskFactoryClient
from eotrust.ledger.escrow import EscrowClient, Quote, SignedQuote

MOVES = ["fund", "run", "result", "settle", "fail", "release", "withdraw", "late", "expire"]
FUNDINGS = ["valid", "expired", "tampered", "short", "stranger", "valid"]


@dataclass
class PaidTaskModel:
    quote: Quote
    state: str = "Initialized"
    results: int = 0
    locked: int = 0


@dataclass
class EscrowModel:
    owed: dict[str, int]
    tasks: list[PaidTaskModel] = field(default_factory=list)

    def locked(self) -> int:
        return sum(t.locked for t in self.tasks)

    def credit(self, party: str, amount: int) -> None:
        self.owed[party] = self.owed.get(party, 0) + amount


def _fee(chain: Chain, tx_hash: str) -> int:
    receipt = chain.w3.eth.get_transaction_receipt(HexStr(tx_hash))
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


@pytest.fixture(scope="module")
def escrow(chain: Chain, factory: TaskFactoryClient, parties: Parties) -> EscrowClient:
    factory.ensure_deployed(parties.submitter)
    for party in parties.all:  # well above the auto top-up line: no ether arrives from outside mid-test
        chain.fund(party.address, 20 * 10**18)
    return EscrowClient(chain)


def _fund(
    escrow: EscrowClient, task: TaskClient, m: PaidTaskModel, variant: str, p: Parties
) -> tuple[str | None, str | None, int]:
    """Try one funding; return (expected error, contract error, ether spent), None for success."""
    quote, sender, value = m.quote, p.submitter, m.quote.total
    signed = quote.sign(p.platform)
    expected: str | None = None
    if escrow.chain.latest_timestamp() >= quote.valid_until:
        expected = "QuoteExpired"  # the clock was moved past it
    elif variant == "expired":
        quote = dataclasses.replace(quote, valid_until=0)
        signed, expected = quote.sign(p.platform), "QuoteExpired"
    elif variant == "stranger":
        sender, expected = p.stranger, "NotQuotedSubmitter"
    elif variant == "short":
        value, expected = quote.total - 1, "WrongAmount"
    elif m.locked:
        expected = "AlreadyFunded"
    elif variant == "tampered":
        signed, expected = (
            SignedQuote(dataclasses.replace(quote, payees=(p.stranger.address, *quote.payees[1:])), signed.signature),
            "BadSignature",
        )
    elif m.state != "Initialized":
        expected = "WrongState"  # released or settled: the task refuses a second lock
    try:
        escrow.fund(task, signed, value, sender=sender)
    except ContractRevertError as exc:
        return expected, exc.error_name, 0
    m.locked, m.state = quote.total, "RequestsLocked"
    assert escrow.last_transaction is not None
    return expected, None, _fee(escrow.chain, escrow.last_transaction.tx_hash) + value


def _advance(m: PaidTaskModel, n: int, late: bool) -> str:
    """The natural next move for a task in the model's state."""
    if late and m.locked and m.state in ("RequestsLocked", "Running"):
        return "expire"
    if m.state == "Initialized" and not m.locked:
        return "fund"
    if m.state == "RequestsLocked":
        return "run"
    if m.state == "Running":
        return "fail" if n == 5 else "settle" if m.results else "result"
    if m.locked:
        return "release"
    return "withdraw"


def _settle_expectation(m: PaidTaskModel, amounts: list[int], stray: bool, late: bool) -> str | None:
    if not m.locked:
        return "NotFunded"
    if stray:
        return "NotQuotedPlatform"
    if late:
        return "DeadlinePassed"
    for amount, most, least in zip(amounts, m.quote.maxima, m.quote.minima):
        if amount > most:
            return "AboveQuote"
        if amount < least:
            return "BelowQuote"
    if m.state != "Running":
        return "WrongState"
    if not m.results:
        return "NoResults"
    return None


@settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(  # the platform pays the application owner nothing: refused; then its price: settled
    steps=[("fund", 0, 0), ("run", 0, 0), ("result", 0, 0), ("settle", 0, 0), ("settle", 0, 2), ("withdraw", 0, 1)]
)
@example(  # a silent data owner: funded, then past the deadline; expired by a stranger
    steps=[("fund", 0, 0), ("late", 0, 0), ("expire", 0, 4), ("expire", 0, 0), ("withdraw", 0, 0)]
)
@example(  # a platform too late: cannot settle; failing then pays no fee; a second task's quote lapsed
    steps=[("fund", 0, 0), ("run", 0, 0), ("late", 0, 0), ("settle", 0, 1), ("fail", 0, 0)]
    + [("release", 0, 2), ("fund", 1, 0), ("expire", 1, 0)]
)
@example(  # a result recorded, then the deadline passed: the owners get their minima on expiry
    steps=[("fund", 0, 0), ("run", 0, 0), ("result", 0, 0), ("late", 0, 0), ("expire", 0, 3), ("withdraw", 0, 1)]
)
@example(  # a result recorded: the platform cannot fail the task for its fee; it settles
    steps=[("fund", 0, 0), ("run", 0, 0), ("result", 0, 0), ("fail", 0, 0), ("settle", 0, 2), ("release", 0, 0)]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["advance", "advance", "advance", *MOVES]), st.integers(0, 1), st.integers(0, 11)),
        min_size=6,
        max_size=14,
    )
)
def test_escrow_agrees_with_model(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties, steps: list[tuple[str, int, int]]
) -> None:
    p = parties
    chain = escrow.chain
    pool = [p.submitter, p.app, p.platform, p.data[0], p.stranger]
    model = EscrowModel(owed={a.address: escrow.owed(a.address) for a in pool})
    start_held, start_owed = escrow.balance(), sum(model.owed.values())
    tasks = [paid_task(factory, p, requests=1) for _ in range(2)]
    for task in tasks:
        quote = quote_for(
            escrow,
            task,
            p,
            payees=[p.platform.address, p.app.address, p.data[0].address],
            maxima=[300, 200, 100],
            minima=[0, 200, 0],  # the application owner's fixed price: never below it
            fail_fee=50,
        )
        model.tasks.append(PaidTaskModel(quote))

    for kind, which, n in steps:
        task, m = tasks[which], model.tasks[which]
        late = chain.latest_timestamp() > m.quote.deadline  # the next block is later still
        move = _advance(m, n, late) if kind == "advance" else kind
        expected: str | None = None
        got: str | None = None
        if move == "fund":
            variant = FUNDINGS[n % len(FUNDINGS)]
            before = chain.balance(p.submitter.address if variant != "stranger" else p.stranger.address)
            expected, got, spent = _fund(escrow, task, m, variant, p)
            if got is None:
                assert chain.balance(p.submitter.address) == before - spent  # the quote's total and the fee, exactly
            event(f"fund {variant}: {got}")
        elif move == "run":
            if m.state != "RequestsLocked":
                continue
            if n == 11:
                task.nack_request(p.data[0], 0)
                m.state = "Nacked"
            else:
                task.ack_application(p.app)
                task.ack_platform(p.platform, recipient())
                task.ack_request(p.data[0], 0, CID_B)
                task.start(p.platform)
                m.state = "Running"
        elif move == "result":
            if m.state != "Running":
                continue
            task.add_result(p.platform, CID_A)
            m.results += 1
        elif move == "fail":
            if m.state != "Running":
                continue
            expected = "ResultsRecorded" if m.results else None  # a paid task with a result is settled
            try:
                task.fail(p.platform, CID_A)
            except ContractRevertError as exc:
                got = exc.error_name
            else:
                m.state = "Failed"
            event(f"fail: {got}")
        elif move == "late":  # the chain's clock past this task's deadline (and its quote's expiry)
            if late or not m.locked:  # past an unfunded quote's expiry, nothing more would happen
                continue
            mine_at(chain, m.quote.deadline + 1)
            event("late")
        elif move == "expire":
            if not m.locked:
                expected = "NotFunded"
            elif not late:
                expected = "NotYetExpired"
            elif m.state not in ("RequestsLocked", "Running"):
                expected = "NotExpirable"
            try:
                escrow.expire(task, sender=pool[n % len(pool)], quote=m.quote)
            except ContractRevertError as exc:
                got = exc.error_name
            else:  # all back, or each payee its minimum first when a result was recorded
                owners = m.quote.minima if m.state == "Running" and m.results else (0,) * len(m.quote.payees)
                for payee, least in zip(m.quote.payees, owners):
                    model.credit(payee, least)
                model.credit(m.quote.submitter, m.quote.total - sum(owners))
                m.locked, m.state = 0, "Expired"
            event(f"expire: {got}")
        elif move == "settle":
            amounts = [mx * ((n + i) % 4) // 3 for i, mx in enumerate(m.quote.maxima)]  # now and then above the quote
            stray = n == 7
            expected = _settle_expectation(m, amounts, stray, late)
            try:
                escrow.settle(task, CID_A, amounts, sender=p.stranger if stray else p.platform, quote=m.quote)
            except ContractRevertError as exc:
                got = exc.error_name
            else:
                for payee, amount in zip(m.quote.payees, amounts):
                    model.credit(payee, amount)
                model.credit(m.quote.submitter, m.quote.total - sum(amounts))
                m.locked, m.state = 0, "Finished"
            event(f"settle: {got}")
        elif move == "release":
            if not m.locked:
                expected = "NotFunded"
            elif m.state not in ("Nacked", "Failed"):
                expected = "NotReleasable"
            try:
                escrow.refund(task, sender=pool[n % len(pool)], quote=m.quote)
            except ContractRevertError as exc:
                got = exc.error_name
            else:
                fee = m.quote.fail_fee if m.state == "Failed" and not late else 0
                model.credit(m.quote.platform, fee)
                model.credit(m.quote.submitter, m.quote.total - fee)
                m.locked = 0
            event(f"release: {got}")
        else:  # withdraw, by anyone
            who = pool[n % len(pool)]
            share = model.owed[who.address]
            expected = None if share else "NothingOwed"
            before = chain.balance(who.address)
            try:
                amount = escrow.withdraw(who)
            except ContractRevertError as exc:
                got = exc.error_name
            else:
                assert escrow.last_transaction is not None
                assert amount == share
                assert chain.balance(who.address) == before + share - _fee(chain, escrow.last_transaction.tx_hash)
                model.owed[who.address] = 0
            event(f"withdraw: {got}")
        assert got == expected, f"{move} on task {which} ({m.state}): contract {got}, model {expected}"
        # conservation: the escrow holds exactly what is locked plus what is owed
        assert escrow.balance() == start_held - start_owed + model.locked() + sum(model.owed.values())
        assert escrow.funded(task) == bool(m.locked)
        assert task.state().value == m.state
    for a in pool:
        assert escrow.owed(a.address) == model.owed[a.address], a.address
