"""Federated rounds in one process on the embedded chain: participants train and submit sealed
updates, the aggregator aggregates deterministically, verify recomputes every aggregate bit for
bit; garbage is refused and recorded; a dishonest aggregator is caught; a node restarted in
the middle of a round finishes it exactly once."""

from __future__ import annotations

import math
import time
from collections import OrderedDict

import numpy as np
import pytest
from chain_clock import mine_at
from fed_world import World, tiny_plan

from eotrust.federated.aggregate import WeightedDelta
from eotrust.federated.aggregator import aggregator_step
from eotrust.federated.create import create_federated_task
from eotrust.federated.participant import participant_step
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.roles import DEADLINE_SLACK_S, read_model
from eotrust.federated.update import Update, seal_update
from eotrust.federated.verify import verify_federated
from eotrust.federated.weights import Weights, encode
from eotrust.ledger.federated import FederatedState, FederatedTaskClient
from eotrust.verify import Verdict


def open_task(
    w: World, rounds: int = 2, quorum: int | None = None, plan: FederatedPlan | None = None
) -> FederatedTaskClient:
    return create_federated_task(
        w.chain,
        w.store,
        w.submitter.account,
        auditor_recipient=_recipient(w.submitter.identity),
        plan=plan or tiny_plan(),
        aggregator=w.aggregator.address,
        aggregator_recipient=_recipient(w.aggregator.identity),
        participants=[p.address for p in w.participants],
        rounds=rounds,
        quorum=quorum,
        round_seconds=3600,
    )


def _recipient(identity: str) -> str:
    from eotrust.crypto.keys import recipient_of

    return recipient_of(identity)


def verdict(w: World, address: str, identity: str | None) -> Verdict:
    v = Verdict(target=address)
    verify_federated(w.chain, w.store, address, v.add, identity=identity)
    return v


def test_two_rounds_then_verify_recomputes_every_aggregate(world: World) -> None:
    w = world
    task = open_task(w)
    for r in range(2):
        assert aggregator_step(w.aggregator, task.address).startswith(f"round {r}: waiting")
        for p, data in zip(w.participants, w.data):
            assert participant_step(p, task.address, data) == f"round {r}: submitted"
        assert aggregator_step(w.aggregator, task.address) == f"round {r}: aggregated"
    s = task.status()
    assert s.state == FederatedState.FINISHED
    rounds = task.rounds()
    assert [len(r.updates) for r in rounds] == [3, 3] and rounds[1].model_cid == rounds[0].aggregate_cid
    # the aggregator and the auditor (submitter) can open an update, a participant cannot
    for who, ok in ((w.submitter, True), (w.aggregator, True), (w.participants[1], False)):
        v = verdict(w, task.address, who.identity)
        assert v.ok is ok, [c for c in v.checks if c.ok is False]
    assert not verdict(w, task.address, None).ok  # no key: the aggregate cannot be recomputed, so not VERIFIED


def test_garbage_updates_are_refused_and_recorded_and_verify_agrees(world: World) -> None:
    w = world
    task = open_task(w, rounds=1)
    snap = task.status()
    participant_step(w.participants[0], task.address, w.data[0])
    g = read_model(w.store, snap.model_cid)
    recipients = [snap.aggregator_recipient, snap.auditor_recipient]
    nan = {k: np.full_like(v, np.nan) for k, v in g.items() if v.dtype.kind == "f"}
    wrong_shape = {k: np.zeros((3, 3), dtype=np.float32) for k, v in g.items() if v.dtype.kind == "f"}
    for i, delta in ((1, nan), (2, wrong_shape)):
        cid = seal_update(w.store, Update(task.address, 0, i, 50, delta), recipients)  # type: ignore[arg-type]
        task.submit_update(w.participants[i].account, 0, cid, 50)
    w.aggregator.journal.dir.mkdir(exist_ok=True)
    task2 = task
    # quorum is every participant: with two refused, the round cannot close before the deadline
    assert "below the quorum" in aggregator_step(w.aggregator, task2.address)
    # a task whose quorum allows it: garbage refused and recorded on the ledger
    task = create_federated_task(
        w.chain,
        w.store,
        w.submitter.account,
        auditor_recipient=_recipient(w.submitter.identity),
        plan=tiny_plan(),
        aggregator=w.aggregator.address,
        aggregator_recipient=_recipient(w.aggregator.identity),
        participants=[p.address for p in w.participants],
        rounds=1,
        quorum=1,
        round_seconds=3600,
    )
    participant_step(w.participants[0], task.address, w.data[0])
    participant_step(w.participants[2], task.address, w.data[2])
    snap = task.status()
    cid = seal_update(w.store, Update(task.address, 0, 1, 50, nan), [snap.aggregator_recipient, snap.auditor_recipient])  # type: ignore[arg-type]
    task.submit_update(w.participants[1].account, 0, cid, 50)
    assert aggregator_step(w.aggregator, task.address) == "round 0: aggregated"
    (r0,) = task.rounds()
    assert r0.refused == [1] and r0.dropped == []
    assert verdict(w, task.address, w.submitter.identity).ok


def test_a_wrong_aggregate_is_caught_by_verify(world: World) -> None:
    w = world
    task = open_task(w, rounds=1, quorum=1)
    for p, data in zip(w.participants, w.data):
        participant_step(p, task.address, data)
    snap = task.status()
    g = read_model(w.store, snap.model_cid)
    # a dishonest aggregator: keeps participant #0's update only, and says it refused the others
    from eotrust.federated.update import open_update

    u0 = open_update(w.store, task.updates_of(0)[0].update_cid, w.aggregator.identity)
    from eotrust.federated.strategy import FedAvg

    bad = w.store.put_bytes(encode(FedAvg().aggregate(g, [WeightedDelta(0, u0.samples, u0.delta)])))
    task.publish_aggregate(w.aggregator.account, 0, bad, refused=[1, 2])
    v = verdict(w, task.address, w.submitter.identity)
    assert not v.ok
    assert any("sound but was refused" in c.detail for c in v.failures)
    # and one that publishes a tampered model with no refusal
    task = open_task(w, rounds=1)
    for p, data in zip(w.participants, w.data):
        participant_step(p, task.address, data)
    g = read_model(w.store, task.status().model_cid)
    tampered = {k: (v + np.float32(1e-6) if v.dtype.kind == "f" else v) for k, v in g.items()}
    task.publish_aggregate(w.aggregator.account, 0, w.store.put_bytes(encode(tampered)))  # type: ignore[arg-type]
    v = verdict(w, task.address, w.submitter.identity)
    assert [c.name for c in v.failures] == ["round 0: aggregate recomputed bit for bit"]


def test_a_node_restarted_mid_round_finishes_it_exactly_once(world: World) -> None:
    """The journal is written before each transaction; a node that died between the two
    publishes, on restart, the very same update / aggregate — and never a second one."""
    w = world
    task = open_task(w, rounds=1)
    p0 = w.participants[0]
    real_submit = FederatedTaskClient.submit_update

    def die(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed after writing the journal, before the transaction")

    FederatedTaskClient.submit_update = die  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            participant_step(p0, task.address, w.data[0])
    finally:
        FederatedTaskClient.submit_update = real_submit  # type: ignore[method-assign]
    journaled = p0.journal.load(task.address, 0, "participant")
    assert journaled is not None and task.status().submitted == []
    assert participant_step(p0, task.address, w.data[0]) == "round 0: submitted"
    assert participant_step(p0, task.address, w.data[0]) == "round 0: submitted"  # nothing more
    assert [u.update_cid for u in task.updates_of(0)] == [journaled.cid]
    for p, data in zip(w.participants[1:], w.data[1:]):
        participant_step(p, task.address, data)
    real_publish = FederatedTaskClient.publish_aggregate
    FederatedTaskClient.publish_aggregate = die  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            aggregator_step(w.aggregator, task.address)
    finally:
        FederatedTaskClient.publish_aggregate = real_publish  # type: ignore[method-assign]
    entry = w.aggregator.journal.load(task.address, 0, "aggregator")
    assert entry is not None
    assert aggregator_step(w.aggregator, task.address) == "round 0: aggregated"
    assert aggregator_step(w.aggregator, task.address) == "finished"
    (r0,) = task.rounds()
    assert r0.aggregate_cid == entry.cid and len(r0.updates) == 3


def test_a_participant_that_misses_the_deadline_is_recorded_as_dropped(world: World) -> None:
    w = world
    task = create_federated_task(
        w.chain,
        w.store,
        w.submitter.account,
        auditor_recipient=_recipient(w.submitter.identity),
        plan=tiny_plan(),
        aggregator=w.aggregator.address,
        aggregator_recipient=_recipient(w.aggregator.identity),
        participants=[p.address for p in w.participants],
        rounds=2,
        quorum=2,
        round_seconds=600,
    )
    snap = task.status()
    g = read_model(w.store, snap.model_cid)
    zero: Weights = OrderedDict((k, np.zeros_like(v)) for k, v in g.items() if v.dtype.kind == "f")
    for i in (0, 1):  # sound updates (no training needed to test the deadline)
        cid = seal_update(
            w.store, Update(task.address, 0, i, 40, zero), [snap.aggregator_recipient, snap.auditor_recipient]
        )
        task.submit_update(w.participants[i].account, 0, cid, 40)
    assert "waiting (2/3 updates)" in aggregator_step(w.aggregator, task.address)
    deadline = task.status().deadline
    # The chain's clock past the deadline and the slack the aggregator allows, without waiting for
    # it: the embedded chain's clock runs ahead of the wall clock whenever it mines more than a
    # block a second (each block at least a second after its parent). The contract goes by the
    # chain's time, and so do the parties: the late owner does not train in vain, and the round
    # closes now, not once the wall clock has caught up (before: "waiting" for ~10 minutes here).
    mine_at(w.chain, deadline + math.ceil(DEADLINE_SLACK_S) + 1)
    assert time.time() < deadline
    assert participant_step(w.participants[2], task.address, w.data[2]) == "round 0: missed the deadline (dropped)"
    assert aggregator_step(w.aggregator, task.address) == "round 0: aggregated"
    (r0,) = task.rounds()
    assert r0.dropped == [2] and [u.index for u in r0.updates] == [0, 1]
    # the next round is open to everyone, the dropped owner included, with a new deadline
    s = task.status()
    assert (s.round, s.submitted) == (1, []) and s.deadline > deadline


def test_a_journal_entry_planted_in_the_home_is_not_published(world: World) -> None:
    """Whoever could write a participant's (or the aggregator's) home planted its round-journal
    entry: the participant submitted the planter's update under its own account, with any
    sample count (2**32 - 1: the joint model was the planter's), and the aggregator published
    the planter's global model, which every participant then trained on (an audit). An entry
    not signed by the party for that task, round and role is refused; nothing is published."""
    import json

    from eth_account import Account

    from eotrust.errors import IntegrityError
    from eotrust.federated.journal import RoundEntry, RoundJournal

    w = world
    task = open_task(w, rounds=1)
    p0 = w.participants[0]
    planted = w.store.put_bytes(b"the planter's update")
    entry = RoundEntry(task=task.address, round=0, role="participant", cid=planted, samples=2**32 - 1)
    path = p0.journal.dir / f"{task.address.lower()}-0-participant.json"
    other_round = entry.model_copy(update={"round": 1})
    RoundJournal(p0.journal.dir, signer=p0.account).save(other_round)  # the party's own, for round 1
    moved = (p0.journal.dir / f"{task.address.lower()}-1-participant.json").read_bytes()
    RoundJournal(p0.journal.dir, signer=Account.create()).save(entry)  # signed by another key
    for forged in (path.read_bytes(), entry.model_dump_json().encode(), moved, json.dumps({"x": 1}).encode()):
        path.write_bytes(forged)
        with pytest.raises(IntegrityError, match="not one this party signed"):
            participant_step(p0, task.address, w.data[0])
        assert task.status().submitted == [] and task.updates_of(0) == []
    path.unlink()
    for p, data in zip(w.participants, w.data):
        assert participant_step(p, task.address, data) == "round 0: submitted"
    assert planted not in [u.update_cid for u in task.updates_of(0)]
    aggregate = w.aggregator.journal.dir / f"{task.address.lower()}-0-aggregator.json"
    aggregate.write_text(RoundEntry(task=task.address, round=0, role="aggregator", cid=planted).model_dump_json())
    with pytest.raises(IntegrityError):
        aggregator_step(w.aggregator, task.address)
    assert all(r.aggregate_cid != planted for r in task.rounds())
