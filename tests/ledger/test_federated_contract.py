"""The FederatedTask contract's rules, one by one, on the embedded chain: only named parties
act, rounds close only after every update or the deadline with a quorum, refused and dropped
participants are recorded, terminal states never change, and a round costs ≤ 150k gas."""

from __future__ import annotations

from typing import Any

import pytest
from chain_clock import mine_at
from eth_account import Account
from eth_account.signers.local import LocalAccount
from ledger_helpers import CID_A, CID_B, recipient

from eotrust.errors import InvalidInputError, PermissionDeniedError, StateError
from eotrust.ledger import Chain
from eotrust.ledger.federated import FederatedFactoryClient, FederatedState, FederatedTaskClient

CID_C = "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"

SUBMITTER, AGGREGATOR, P0, P1, P2, STRANGER = (Account.from_key(bytes([0x60 + i]) * 32) for i in range(6))
PARTICIPANTS = [P0, P1, P2]


@pytest.fixture(scope="module")
def fed_factory(chain: Chain) -> FederatedFactoryClient:
    return FederatedFactoryClient(chain)


def make(
    factory: FederatedFactoryClient,
    *,
    rounds: int = 2,
    quorum: int = 2,
    seconds: int = 600,
    participants: list[LocalAccount] | None = None,
) -> FederatedTaskClient:
    return factory.create(
        SUBMITTER,
        aggregator=AGGREGATOR.address,
        aggregator_recipient=recipient(),
        auditor_recipient=recipient(),
        plan_cid=CID_A,
        model_cid=CID_B,
        participants=[p.address for p in (PARTICIPANTS if participants is None else participants)],
        rounds=rounds,
        quorum=quorum,
        round_seconds=seconds,
    )


def test_a_full_task_records_every_round_and_costs_at_most_150k_gas_a_round(
    fed_factory: FederatedFactoryClient,
) -> None:
    task = make(fed_factory, rounds=2)
    s = task.status()
    assert (s.state, s.round, s.model_cid, s.submitter) == (FederatedState.RUNNING, 0, CID_B, SUBMITTER.address)
    assert fed_factory.is_task(task.address) and task.address in fed_factory.all_tasks()
    every = fed_factory.all_tasks()
    assert fed_factory.all_tasks(known=every[:-1]) == every  # a poller reads only what is new
    assert (
        fed_factory.all_tasks(known=[*every, SUBMITTER.address]) == every
    )  # longer than the factory's: all read again
    for r, aggregate in ((0, CID_C), (1, CID_A)):
        gas = 0
        for i, p in enumerate(PARTICIPANTS):
            task.submit_update(p, r, CID_A if i else CID_C, 100 + i)
            assert task.last_transaction is not None
            gas += task.last_transaction.gas_used
        assert task.status().submitted == [0, 1, 2]
        task.publish_aggregate(AGGREGATOR, r, aggregate, refused=[1] if r else [])
        assert task.last_transaction is not None
        gas += task.last_transaction.gas_used
        assert gas <= 150_000, f"round {r} cost {gas} gas"
    s = task.status()
    assert (s.state, s.round, s.model_cid, s.submitted) == (FederatedState.FINISHED, 2, CID_A, [])
    rounds = task.rounds()
    assert [r.model_cid for r in rounds] == [CID_B, CID_C]
    assert [r.aggregate_cid for r in rounds] == [CID_C, CID_A]
    assert [(u.index, u.samples, u.participant) for u in rounds[0].updates] == [
        (i, 100 + i, p.address) for i, p in enumerate(PARTICIPANTS)
    ]
    assert rounds[1].refused == [1] and rounds[1].dropped == []
    with pytest.raises(StateError, match="Finished"):
        task.submit_update(P0, 2, CID_A, 1)
    with pytest.raises(StateError, match="Finished"):
        task.fail(AGGREGATOR, CID_A)


def test_only_named_parties_act(fed_factory: FederatedFactoryClient) -> None:
    task = make(fed_factory)
    with pytest.raises(PermissionDeniedError, match="only a participant"):
        task.submit_update(STRANGER, 0, CID_A, 10)
    with pytest.raises(PermissionDeniedError, match="only a participant"):
        task.submit_update(AGGREGATOR, 0, CID_A, 10)
    for p in PARTICIPANTS:
        task.submit_update(p, 0, CID_A, 10)
    for who in (P0, SUBMITTER, STRANGER):
        with pytest.raises(PermissionDeniedError, match="aggregator"):
            task.publish_aggregate(who, 0, CID_C)
    with pytest.raises(PermissionDeniedError):
        task.fail(P1, CID_C)
    assert task.status().round == 0


def test_each_participant_submits_once_per_round_for_the_current_round_only(
    fed_factory: FederatedFactoryClient,
) -> None:
    task = make(fed_factory)
    task.submit_update(P0, 0, CID_A, 10)
    with pytest.raises(StateError, match="already submitted"):
        task.submit_update(P0, 0, CID_C, 10)
    with pytest.raises(StateError, match="round 0, not 1") as wrong_round:
        task.submit_update(P1, 1, CID_A, 10)
    # the decoded error names rounds as numbers, not as Task states (it said current=Initialized)
    from eotrust.ledger.reverts import ContractRevertError

    assert isinstance(wrong_round.value, ContractRevertError)
    assert "WrongRound(current=0, given=1)" in str(wrong_round.value.error)
    with pytest.raises(InvalidInputError):
        task.submit_update(P1, 0, CID_A, 0)


def test_the_aggregate_waits_for_every_update_before_the_deadline(fed_factory: FederatedFactoryClient) -> None:
    task = make(fed_factory, quorum=1)
    task.submit_update(P0, 0, CID_A, 10)
    task.submit_update(P1, 0, CID_A, 10)
    with pytest.raises(StateError, match="not every participant"):
        task.publish_aggregate(AGGREGATOR, 0, CID_C)
    with pytest.raises(StateError, match="round 0, not 1"):
        task.publish_aggregate(AGGREGATOR, 1, CID_C)
    with pytest.raises(InvalidInputError, match="never submitted"):
        task.publish_aggregate(AGGREGATOR, 0, CID_C, refused=[2])


def test_after_the_deadline_late_updates_are_refused_and_the_missing_are_recorded_dropped(
    fed_factory: FederatedFactoryClient,
) -> None:
    task = make(fed_factory, quorum=2, seconds=600)
    task.submit_update(P0, 0, CID_A, 10)
    task.submit_update(P1, 0, CID_A, 10)
    deadline = task.status().deadline
    with pytest.raises(StateError, match="open until"):  # before the deadline: every update, or wait
        task.publish_aggregate(AGGREGATOR, 0, CID_C)
    mine_at(fed_factory.chain, deadline + 1)  # the chain's clock past the deadline, without waiting for it
    with pytest.raises(StateError, match="deadline"):
        task.submit_update(P2, 0, CID_A, 10)
    # refusing one of the two leaves one accepted update, below the quorum
    with pytest.raises(StateError, match="quorum is 2"):
        task.publish_aggregate(AGGREGATOR, 0, CID_C, refused=[0])
    task.publish_aggregate(AGGREGATOR, 0, CID_C)
    (r0,) = task.rounds()
    assert r0.dropped == [2] and r0.refused == [] and r0.aggregate_cid == CID_C
    assert task.status().round == 1


def test_a_task_without_quorum_can_be_failed_and_then_nothing_moves(fed_factory: FederatedFactoryClient) -> None:
    task = make(fed_factory)
    task.fail(AGGREGATOR, CID_C)
    s = task.status()
    assert s.state == FederatedState.FAILED and s.failure_cid == CID_C
    with pytest.raises(StateError, match="Failed"):
        task.submit_update(P0, 0, CID_A, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"participants": []}, "participants"),
        ({"participants": [P0, P0]}, "distinct"),
        ({"participants": [P0, AGGREGATOR]}, "distinct"),
        ({"quorum": 4}, "quorum"),
    ],
)
def test_bad_configurations_are_refused(
    fed_factory: FederatedFactoryClient, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        make(fed_factory, **kwargs)
