"""A silent party cannot hold a paid task's money for ever: the quote carries a deadline.

Attacks first: an owner who never answers (RequestsLocked) or a platform that never finishes
(Running) left the submitter's money locked in the escrow for good, with nothing anyone could
call. Now, after the quote's deadline, anyone may expire the task (it ends Expired) and the
submitter is credited the whole total; before it nobody can; after it the platform can no
longer settle, nor fail the task then to collect its failure fee; the task itself takes the
move from its escrow only. The chain's clock is moved past deadlines (chain_clock.mine_at)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from chain_clock import mine_at
from escrow_helpers import funded_task, paid_task, quote_for, run_funded
from ledger_helpers import CID_A, Parties

from eotrust.errors import StateError
from eotrust.ledger import ContractRevertError, TaskFactoryClient, TaskState
from eotrust.ledger.escrow import EscrowClient


def _past(escrow: EscrowClient, deadline: int) -> None:
    mine_at(escrow.chain, max(deadline + 1, escrow.chain.latest_timestamp() + 1))


@pytest.mark.parametrize("silent", ["data owner", "platform"])
def test_a_silent_party_cannot_hold_the_money_past_the_deadline(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties, silent: str
) -> None:
    p = parties
    task, quote = funded_task(escrow, factory, p, fail_fee=123)
    if silent == "platform":  # every owner answered, the platform started and never finished
        run_funded(task, p, "Running")
    else:  # the application owner and platform answered; a data owner never does
        task.ack_application(p.app)
    before = escrow.owed(p.submitter.address)
    with pytest.raises(ContractRevertError) as info:  # before the deadline nobody can take it back
        escrow.expire(task, sender=p.submitter)
    assert info.value.error_name == "NotYetExpired" and isinstance(info.value, StateError)
    assert escrow.funded(task)

    _past(escrow, quote.deadline)
    if silent == "platform":
        with pytest.raises(ContractRevertError) as info:  # too late to be paid for it
            escrow.settle(task, CID_A, [400, 0, 0, 0], sender=p.platform)
        assert info.value.error_name == "DeadlinePassed" and "deadline" in info.value.message
    escrow.expire(task, sender=p.stranger)  # anyone may; the money goes to the submitter only
    assert task.state() is TaskState.Expired and task.status().is_terminal
    assert not escrow.funded(task)
    assert escrow.owed(p.submitter.address) - before == quote.total
    assert escrow.owed(p.stranger.address) == 0
    expired = [e for e in escrow.events(task) if e.name == "Expired"]
    assert [e.args for e in expired] == [{"refund": quote.total}]

    moves: list[Callable[[], object]] = [  # nothing moves an Expired task; no money is released twice
        lambda: escrow.expire(task, sender=p.submitter),
        lambda: escrow.refund(task, sender=p.submitter, quote=quote),
        lambda: escrow.settle(task, CID_A, [0, 0, 0, 0], sender=p.platform, quote=quote),
    ]
    for move in moves:
        with pytest.raises(ContractRevertError) as info:
            move()
        assert info.value.error_name == "NotFunded"
    with pytest.raises(ContractRevertError) as info:
        task.ack_request(p.data[0], 0, CID_A)
    assert info.value.error_name == "WrongState" and "Expired, which is final" in info.value.message


def test_the_platform_cannot_fail_late_for_its_fee(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    """A platform past its deadline that fails the task then (before anyone expires it) gets no
    failure fee: the release refunds everything."""
    p = parties
    task, quote = funded_task(escrow, factory, p, fail_fee=123)
    run_funded(task, p, "Started")
    _past(escrow, quote.deadline)
    task.fail(p.platform, CID_A)
    sub, plat = escrow.owed(p.submitter.address), escrow.owed(p.platform.address)
    escrow.refund(task, sender=p.platform)
    assert escrow.owed(p.platform.address) == plat
    assert escrow.owed(p.submitter.address) - sub == quote.total
    released = [e.args for e in escrow.events(task) if e.name == "Released"]
    assert released == [{"state": "Failed", "to_platform": 0, "to_submitter": quote.total}]


def test_ended_tasks_are_released_not_expired(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    p = parties
    task, quote = funded_task(escrow, factory, p)
    run_funded(task, p, "Nacked")
    _past(escrow, quote.deadline)
    with pytest.raises(ContractRevertError) as info:
        escrow.expire(task, sender=p.submitter)
    assert info.value.error_name == "NotExpirable" and "Nacked" in info.value.message
    escrow.refund(task, sender=p.submitter)
    assert task.state() is TaskState.Nacked and not escrow.funded(task)


def test_only_its_escrow_expires_a_task(escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties) -> None:
    """Task.expire is the escrow's move: not the submitter's, not on an unpaid task."""
    p = parties
    paid = paid_task(factory, p)
    quote = quote_for(escrow, paid, p)
    escrow.fund(paid, quote.sign(p.platform), sender=p.submitter)
    for who in (p.submitter, p.platform, p.stranger):
        with pytest.raises(ContractRevertError) as info:
            paid._tx(who, "expire", action="expire the task directly")
        assert info.value.error_name == "NotFunded"
    assert paid.state() is TaskState.RequestsLocked


def test_a_deadline_before_the_expiry_is_refused(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    p = parties
    task = paid_task(factory, p)
    quote = quote_for(escrow, task, p)
    early = dataclasses.replace(quote, deadline=quote.valid_until - 1)
    with pytest.raises(ContractRevertError) as info:
        escrow.fund(task, early.sign(p.platform), sender=p.submitter)
    assert info.value.error_name == "BadQuote" and "deadline" in info.value.message
    assert not escrow.funded(task)


def test_results_delivered_late_still_pay_the_owners_their_prices(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    """Attack (an audit): a platform that recorded the results (the submitter has them) and let
    the deadline pass — colluding with the submitter, or only late — had the task expired with
    everything back to the submitter, and the owners whose data and code made the results got
    nothing. Now an expiry after a result pays each payee its minimum (the owners' fixed
    prices); the late platform's measured share is forfeit and the rest goes back."""
    p = parties
    task, quote = funded_task(escrow, factory, p, minima=[0, 200, 100, 100])
    run_funded(task, p, "Running")  # a result recorded
    before = {a.address: escrow.owed(a.address) for a in p.all}
    _past(escrow, quote.deadline)
    escrow.expire(task, sender=p.submitter)
    paid = {p.app.address: 200, p.data[0].address: 100, p.data[1].address: 100, p.submitter.address: 400}
    for a in p.all:
        assert escrow.owed(a.address) - before[a.address] == paid.get(a.address, 0), a.address
    assert [e.args for e in escrow.events(task) if e.name == "Expired"] == [{"refund": 400}]
    assert task.state() is TaskState.Expired
