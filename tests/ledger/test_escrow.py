"""Escrow of paid tasks on the embedded chain: every refusal the issue names (expired, tampered,
wrong amount, double funding, wrong submitter), settlement below the quote, refunds, the
failure terms, pull withdrawals, and a payee contract that re-enters on payment."""

from __future__ import annotations

import dataclasses

import pytest
from escrow_helpers import (
    deploy_payee,
    funded_task,
    paid_task,
    payee_collect,
    payee_read,
    quote_for,
    run_funded,
)
from ledger_helpers import CID_A, NewTask, Parties, recipient

from eotrust.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)
from eotrust.ledger import Chain, ContractRevertError, TaskFactoryClient, TaskState
from eotrust.ledger.abi import task_abi
from eotrust.ledger.escrow import EscrowClient, SignedQuote


def _revert(info: pytest.ExceptionInfo[ContractRevertError]) -> str:
    return info.value.error_name


def test_digest_and_signature_agree_with_the_contract(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    task = paid_task(factory, parties)
    quote = quote_for(escrow, task, parties)
    assert escrow.digest_on_chain(quote) == quote.digest()
    signed = quote.sign(parties.platform)
    assert signed.signer() == parties.platform.address
    assert SignedQuote.from_json(signed.to_json()) == signed
    assert EscrowClient.for_task(escrow.chain, task).address == escrow.address
    assert escrow.required(task) and not escrow.funded(task)


def test_a_paid_task_cannot_lock_or_start_unfunded(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    p = parties
    task = paid_task(factory, p)
    with pytest.raises(ContractRevertError) as info:
        task.lock(p.submitter)
    assert _revert(info) == "NotFunded" and isinstance(info.value, StateError)
    assert "locked only by funding it" in info.value.message
    with pytest.raises(ContractRevertError) as info:
        task.start(p.platform)
    assert _revert(info) == "WrongState"
    assert task.state() is TaskState.Initialized


def test_funding_refusals(escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties) -> None:
    p = parties
    task = paid_task(factory, p)
    quote = quote_for(escrow, task, p)
    signed = quote.sign(p.platform)
    before = escrow.balance()

    cases = [
        (
            "expired",
            quote_for(escrow, task, p, valid_for=-1).sign(p.platform),
            quote.total,
            p.submitter,
            "QuoteExpired",
        ),
        (
            "tampered maximum",
            SignedQuote(dataclasses.replace(quote, maxima=(400, 200, 100, 101), total=801), signed.signature),
            801,
            p.submitter,
            "BadSignature",
        ),
        (
            "tampered payee",
            SignedQuote(dataclasses.replace(quote, payees=(p.stranger.address, *quote.payees[1:])), signed.signature),
            quote.total,
            p.submitter,
            "BadSignature",
        ),
        ("signed by another key", quote.sign(p.stranger), quote.total, p.submitter, "BadSignature"),
        ("truncated signature", SignedQuote(quote, signed.signature[:64]), quote.total, p.submitter, "BadSignature"),
        ("too little", signed, quote.total - 1, p.submitter, "WrongAmount"),
        ("too much", signed, quote.total + 1, p.submitter, "WrongAmount"),
        ("sent by a stranger", signed, quote.total, p.stranger, "NotQuotedSubmitter"),
        (
            "sum of maxima is not the total",
            dataclasses.replace(quote, total=quote.total + 5).sign(p.platform),
            quote.total + 5,
            p.submitter,
            "BadQuote",
        ),
        (
            "failure fee above the total",
            dataclasses.replace(quote, fail_fee=quote.total + 1).sign(p.platform),
            quote.total,
            p.submitter,
            "BadQuote",
        ),
    ]
    for what, sq, value, sender, expected in cases:
        with pytest.raises(ContractRevertError) as info:
            escrow.fund(task, sq, value, sender=sender)
        assert _revert(info) == expected, what
    # a quote naming the stranger as submitter, properly signed, sent by the stranger
    stranger_quote = dataclasses.replace(quote, submitter=p.stranger.address).sign(p.platform)
    with pytest.raises(ContractRevertError) as info:
        escrow.fund(task, stranger_quote, sender=p.stranger)
    assert _revert(info) == "WrongSubmitter"
    # a quote signed by a platform that is not the task's
    other = dataclasses.replace(quote, platform=p.stranger.address).sign(p.stranger)
    with pytest.raises(ContractRevertError) as info:
        escrow.fund(task, other, sender=p.submitter)
    assert _revert(info) == "WrongPlatform"
    assert escrow.balance() == before and not escrow.funded(task) and task.state() is TaskState.Initialized

    escrow.fund(task, signed, sender=p.submitter)
    assert escrow.funded(task) and task.state() is TaskState.RequestsLocked
    assert escrow.balance() == before + quote.total
    with pytest.raises(ContractRevertError) as info:
        escrow.fund(task, signed, sender=p.submitter)
    assert _revert(info) == "AlreadyFunded"
    assert escrow.quote_of(task) == quote


def test_an_unpaid_task_cannot_be_funded(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties, new_task: NewTask
) -> None:
    p = parties
    task = new_task("Initialized")
    assert not escrow.required(task)
    with pytest.raises(ContractRevertError) as info:
        escrow.fund(task, quote_for(escrow, task, p).sign(p.platform), sender=p.submitter)
    assert _revert(info) == "NotSubmitter"  # the task refuses the escrow's lock


def test_settle_pays_actual_use_and_returns_the_rest(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    p = parties
    task, quote = funded_task(escrow, factory, p)
    with pytest.raises(ContractRevertError) as info:
        escrow.settle(task, CID_A, [1, 1, 1, 1], sender=p.platform)
    assert _revert(info) == "WrongState"  # not running yet: the task refuses to finish
    run_funded(task, p, "Running")
    owed = {a.address: escrow.owed(a.address) for a in p.all}
    with pytest.raises(ContractRevertError) as info:
        escrow.settle(task, CID_A, [401, 0, 0, 0], sender=p.platform)
    assert _revert(info) == "AboveQuote" and isinstance(info.value, InvalidInputError)
    with pytest.raises(ContractRevertError) as info:
        escrow.settle(task, CID_A, [1, 1, 1, 1], sender=p.submitter)
    assert _revert(info) == "NotQuotedPlatform" and isinstance(info.value, PermissionDeniedError)
    with pytest.raises(ContractRevertError) as info:
        escrow.settle(task, CID_A, [1, 1, 1], sender=p.platform)
    assert _revert(info) == "WrongAmountCount"
    with pytest.raises(ContractRevertError) as info:
        escrow.settle(task, CID_A, [1, 1, 1, 1], sender=p.platform, quote=dataclasses.replace(quote, fail_fee=0))
    assert _revert(info) == "WrongQuote"
    with pytest.raises(InvalidInputError):
        escrow.settle(task, CID_A, {p.stranger.address: 1}, sender=p.platform)
    with pytest.raises(ContractRevertError) as info:  # the platform cannot finish a paid task without paying
        task.finish(p.platform)
    assert _revert(info) == "NotFunded"

    escrow.settle(task, CID_A, {p.platform.address: 300, p.app.address: 200, p.data[0].address: 50}, sender=p.platform)
    assert task.state() is TaskState.Finished and not escrow.funded(task)
    paid = {p.platform.address: 300, p.app.address: 200, p.data[0].address: 50, p.submitter.address: 800 - 550}
    for a in p.all:
        assert escrow.owed(a.address) - owed[a.address] == paid.get(a.address, 0), a.address
    settled = [e for e in escrow.events(task) if e.name == "Settled"]
    assert settled[0].args == {"usage_cid": CID_A, "refund": 250, "amounts": [300, 200, 50, 0]}
    with pytest.raises(ContractRevertError) as info:
        escrow.settle(task, CID_A, [0, 0, 0, 0], sender=p.platform)
    assert _revert(info) == "NotFunded"
    with pytest.raises(ContractRevertError) as info:
        escrow.refund(task, sender=p.submitter, quote=quote)
    assert _revert(info) == "NotFunded"


@pytest.mark.parametrize("outcome", ["Nacked", "Failed"])
def test_release_refunds_exactly(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties, outcome: str
) -> None:
    p = parties
    task, quote = funded_task(escrow, factory, p, fail_fee=123)
    with pytest.raises(ContractRevertError) as info:
        escrow.refund(task, sender=p.stranger)
    assert _revert(info) == "NotReleasable" and "RequestsLocked" in info.value.message
    run_funded(task, p, outcome)
    sub, plat, held = escrow.owed(p.submitter.address), escrow.owed(p.platform.address), escrow.balance()
    escrow.refund(task, sender=p.stranger)  # anyone may release; the money goes where the quote says
    fee = 123 if outcome == "Failed" else 0
    assert escrow.owed(p.submitter.address) - sub == quote.total - fee
    assert escrow.owed(p.platform.address) - plat == fee
    assert escrow.balance() == held  # credited, not paid: pull payments
    with pytest.raises(ContractRevertError) as info:
        escrow.refund(task, sender=p.submitter)
    assert _revert(info) == "NotFunded"


def test_withdraw_pays_once(escrow: EscrowClient, chain: Chain, parties: Parties) -> None:
    p = parties
    owed = escrow.owed(p.submitter.address)
    assert owed > 0  # from the tests above (the module shares one chain)
    held = escrow.balance()
    assert escrow.withdraw(p.submitter) == owed
    assert escrow.owed(p.submitter.address) == 0 and escrow.balance() == held - owed
    last = escrow.withdrawals(p.submitter.address)[-1]
    assert last.args == {"party": p.submitter.address, "amount": owed}
    assert escrow.last_transaction is not None and last.tx_hash == escrow.last_transaction.tx_hash
    with pytest.raises(ContractRevertError) as info:
        escrow.withdraw(p.submitter)
    assert _revert(info) == "NothingOwed" and isinstance(info.value, NotFoundError)
    with pytest.raises(ContractRevertError) as info:
        escrow.withdraw(p.stranger)
    assert _revert(info) == "NothingOwed"


def test_a_reentrant_payee_gets_nothing_extra(
    escrow: EscrowClient, chain: Chain, factory: TaskFactoryClient, parties: Parties
) -> None:
    p = parties
    attacker = deploy_payee(chain, p.stranger, escrow.address, depth=3)
    refuser = deploy_payee(chain, p.stranger, escrow.address, refuse=True)
    # two tasks credit the attacker, so a second payout would find money to take
    for _ in range(2):
        task = paid_task(factory, p)
        quote = quote_for(escrow, task, p, payees=[attacker, refuser, p.platform.address], maxima=[300, 200, 100])
        escrow.fund(task, quote.sign(p.platform), sender=p.submitter)
        run_funded(task, p, "Running")
        escrow.settle(task, CID_A, [250, 200, 100], sender=p.platform)
    assert escrow.owed(attacker) == 500 and escrow.owed(refuser) == 400
    held = escrow.balance()
    payee_collect(chain, p.stranger, attacker)
    assert payee_read(chain, attacker, "attempts") == 1  # it re-entered (and the escrow refused it)
    assert payee_read(chain, attacker, "received") == 500 == chain.balance(attacker)
    assert escrow.owed(attacker) == 0 and escrow.balance() == held - 500
    with pytest.raises(ContractRevertError) as info:
        payee_collect(chain, p.stranger, attacker)
    assert _revert(info) == "NothingOwed"
    # a payee that refuses payment keeps its credit and blocks nobody
    with pytest.raises(ContractRevertError) as info:
        payee_collect(chain, p.stranger, refuser)
    assert _revert(info) == "TransferFailed"
    assert escrow.owed(refuser) == 400
    platform_owed = escrow.owed(p.platform.address)
    assert escrow.withdraw(p.platform) == platform_owed > 0
    assert chain.latest_timestamp() > 0


def test_malformed_quotes_are_one_clear_error(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    p = parties
    task = paid_task(factory, p, requests=0)
    good = quote_for(escrow, task, p)
    for change in (
        {"valid_until": 2**64},
        {"maxima": (-1, 1, 1, 1)},
        {"payees": (), "maxima": ()},
        {"maxima": (1, 2)},
        {"quote_cid": "not-a-cid"},
        {"payees": ("0x123", *good.payees[1:])},
    ):
        with pytest.raises(InvalidInputError):
            dataclasses.replace(good, **change)
    with pytest.raises(InvalidInputError):
        escrow.fund(
            paid_task(factory, p, requests=0), good.sign(p.platform), sender=p.submitter
        )  # another task's quote


def test_a_paid_task_is_never_locked_at_creation(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    """The client refuses paid + lock; a hand-made transaction is refused by the factory; nothing is created."""
    p = parties
    count = factory.task_count()
    with pytest.raises(InvalidInputError, match="locked by funding it"):
        factory.create_task(
            p.submitter,
            results_recipient=recipient(),
            application_id=CID_A,
            application_owner=p.app.address,
            platform_id="platform-record",
            platform_owner=p.platform.address,
            requests=[("d", p.data[0].address)],
            lock=True,
            paid=True,
        )
    head = (bytes(31) + b"\x01", bytes(31) + b"\x02", p.app.address, bytes(31) + b"\x03", p.platform.address)
    for requests in ([], [p.data[0].address]):
        data = task_abi().encode_call(
            "createTaskWithRequests", *head, [bytes(31) + b"\x04"] * len(requests), requests, True, True
        )
        assert factory.address is not None
        with pytest.raises(ContractRevertError) as info:
            escrow.chain.transact(p.submitter, to=factory.address, data=data, action="create a task")
        assert _revert(info) == "PaidLock" and isinstance(info.value, InvalidInputError)
    assert factory.task_count() == count


def test_a_paid_task_with_requests_at_creation_is_funded_run_and_settled(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    """The paid byte sits before the request list in the clone's code: the request owners made
    at creation must still be read right (ack by the right owner, not by another)."""
    p = parties
    task = factory.create_task(
        p.submitter,
        results_recipient=recipient(),
        application_id=CID_A,
        application_owner=p.app.address,
        platform_id="platform-record",
        platform_owner=p.platform.address,
        requests=[(f"dataset-{i}", p.data[i].address) for i in range(2)],
        paid=True,
    )
    assert factory.origin(task.address).genuine
    assert task.payment_required() and escrow.required(task)
    snap = task.status()
    assert [r.owner for r in snap.requests] == [p.data[0].address, p.data[1].address]
    with pytest.raises(ContractRevertError) as info:
        task.lock(p.submitter)
    assert _revert(info) == "NotFunded"
    escrow.fund(task, quote_for(escrow, task, p).sign(p.platform), sender=p.submitter)
    assert task.state() is TaskState.RequestsLocked
    with pytest.raises(ContractRevertError) as info:
        task.ack_request(p.data[1], 0, CID_A)  # request #0 is data owner #0's
    assert _revert(info) == "NotRequestOwner"
    run_funded(task, p, "Running")
    with pytest.raises(ContractRevertError) as info:
        task.finish(p.platform)
    assert _revert(info) == "NotFunded"
    escrow.settle(task, CID_A, [300, 200, 50, 0], sender=p.platform)
    assert task.state() is TaskState.Finished


def test_the_platform_cannot_cut_an_owners_fixed_price(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    """Attack: settling, the platform paid each payee anything up to its maximum, so it could
    pay the application and data owners 0 for a finished task and keep its own share. The
    quote now carries each payee's minimum (an owner's price per run or per use), checked
    when settling; a quote whose minimum exceeds its maximum is refused at funding."""
    p = parties
    task = paid_task(factory, p)
    bad = quote_for(escrow, task, p, minima=[0, 201, 100, 100])  # the application's 200 at least 201
    with pytest.raises(ContractRevertError) as info:
        escrow.fund(task, bad.sign(p.platform), sender=p.submitter)
    assert _revert(info) == "BadQuote"
    quote = quote_for(escrow, task, p, minima=[0, 200, 100, 100])
    escrow.fund(task, quote.sign(p.platform), sender=p.submitter)
    run_funded(task, p, "Running")
    for amounts, index in (([400, 0, 0, 0], 1), ([400, 200, 99, 100], 2), ([0, 200, 100, 0], 3)):
        with pytest.raises(ContractRevertError) as info:
            escrow.settle(task, CID_A, amounts, sender=p.platform)
        assert _revert(info) == "BelowQuote" and isinstance(info.value, InvalidInputError)
        assert info.value.error.args["index"] == index and "below the quoted minimum" in info.value.message
    escrow.settle(task, CID_A, [10, 200, 100, 100], sender=p.platform)  # the platform's own share is its to cut
    assert task.state() is TaskState.Finished
    settled = [e for e in escrow.events(task) if e.name == "Settled"]
    assert settled[0].args["amounts"] == [10, 200, 100, 100] and settled[0].args["refund"] == 390


def test_a_paid_task_with_a_result_is_settled_not_failed(
    escrow: EscrowClient, factory: TaskFactoryClient, parties: Parties
) -> None:
    """Attack: a platform that had recorded the results (the submitter has them) could still
    fail the paid task and release it: the platform took its failure fee, the owners whose
    data and code made the results nothing. Now a paid task with a result is only settled."""
    p = parties
    task, quote = funded_task(escrow, factory, p, minima=[0, 200, 100, 100], fail_fee=300)
    run_funded(task, p, "Running")  # a result recorded
    with pytest.raises(ContractRevertError) as info:
        task.fail(p.platform, CID_A)
    assert _revert(info) == "ResultsRecorded" and isinstance(info.value, StateError)
    assert "settled" in info.value.message and task.state() is TaskState.Running and escrow.funded(task)
    escrow.settle(task, CID_A, [0, 200, 100, 100], sender=p.platform)
    assert task.state() is TaskState.Finished
