"""Federated rounds in one process on the embedded chain: participants train and submit sealed
updates, the aggregator aggregates deterministically, verify recomputes every aggregate bit for
bit; garbage is refused and recorded; a dishonest aggregator is caught; a node restarted in
the middle of a round finishes it exactly once."""

from __future__ import annotations

import dataclasses
import math
import time
from collections import OrderedDict

import numpy as np
import pytest
from chain_clock import mine_at
from dev_chain import restart_embedded_chain
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
from eotrust.ledger import Chain
from eotrust.ledger.federated import FederatedState, FederatedTaskClient
from eotrust.settings import Settings
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
    assert any("#1's update is sound but was refused before the round's deadline" in c.detail for c in v.failures)
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
    journaled = p0.journal.load(p0.chain_key, task.address, 0, "participant")
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
    entry = w.aggregator.journal.load(w.aggregator.chain_key, task.address, 0, "aggregator")
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
    chain = p0.chain_key
    entry = RoundEntry(chain=chain, task=task.address, round=0, role="participant", cid=planted, samples=2**32 - 1)
    path = p0.journal.path(chain, task.address, 0, "participant")
    other_round = entry.model_copy(update={"round": 1})
    RoundJournal(p0.journal.dir, signer=p0.account).save(other_round)  # the party's own, for round 1
    moved = p0.journal.path(chain, task.address, 1, "participant").read_bytes()
    elsewhere = entry.model_copy(update={"chain": "1-0x" + "00" * 32})
    RoundJournal(p0.journal.dir, signer=p0.account).save(elsewhere)  # the party's own, on another chain
    from_elsewhere = p0.journal.path(elsewhere.chain, task.address, 0, "participant").read_bytes()
    RoundJournal(p0.journal.dir, signer=Account.create()).save(entry)  # signed by another key
    forgeries = (
        path.read_bytes(),
        entry.model_dump_json().encode(),
        moved,
        from_elsewhere,
        json.dumps({"x": 1}).encode(),
    )
    for forged in forgeries:
        path.write_bytes(forged)
        with pytest.raises(IntegrityError, match="not one this party signed"):
            participant_step(p0, task.address, w.data[0])
        assert task.status().submitted == [] and task.updates_of(0) == []
    path.unlink()
    for p, data in zip(w.participants, w.data):
        assert participant_step(p, task.address, data) == "round 0: submitted"
    assert planted not in [u.update_cid for u in task.updates_of(0)]
    aggregate = w.aggregator.journal.path(chain, task.address, 0, "aggregator")
    aggregate.parent.mkdir(parents=True, exist_ok=True)
    aggregate.write_text(
        RoundEntry(chain=chain, task=task.address, round=0, role="aggregator", cid=planted).model_dump_json()
    )
    with pytest.raises(IntegrityError):
        aggregator_step(w.aggregator, task.address)
    assert all(r.aggregate_cid != planted for r in task.rounds())


def test_a_previous_chains_journal_is_not_published_on_a_fresh_chain_at_the_same_address(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh dev chain (the embedded one restarted, anvil) replays the same deployer's same
    nonces, so its tasks get the previous chain's addresses. Before (an audit), the round journal
    was keyed by the task's address alone: on the new chain's task, participant #0 submitted the
    update it had sealed for the old chain's, and the aggregator published the old chain's
    aggregate. Entries are now keyed by the chain as well (its id and genesis hash); an entry of
    the old format (no chain) is not read."""
    from eotrust.crypto.signing import Domain, signed_document
    from eotrust.store.atomic import write_atomic

    w = world
    p0, p1 = w.participants[:2]

    def opened(chain: Chain) -> FederatedTaskClient:
        return create_federated_task(
            chain,
            w.store,
            w.submitter.account,
            auditor_recipient=_recipient(w.submitter.identity),
            plan=tiny_plan(),
            aggregator=w.aggregator.address,
            aggregator_recipient=_recipient(w.aggregator.identity),
            participants=[p0.address, p1.address],
            rounds=1,
            round_seconds=3600,
        )

    def submit_constant(task: FederatedTaskClient, value: float) -> None:
        snap = task.status()
        g = read_model(w.store, snap.model_cid)
        delta: Weights = OrderedDict((k, np.full_like(v, value)) for k, v in g.items() if v.dtype.kind == "f")
        update = Update(task.address, 0, 1, 50, delta)
        task.submit_update(
            p1.account, 0, seal_update(w.store, update, [snap.aggregator_recipient, snap.auditor_recipient]), 50
        )

    old = opened(w.chain)
    assert participant_step(p0, old.address, w.data[0]) == "round 0: submitted"
    submit_constant(old, 0.0)
    assert aggregator_step(w.aggregator, old.address) == "round 0: aggregated"
    (before,) = old.rounds()

    fresh = restart_embedded_chain(settings, monkeypatch)
    task = opened(fresh)
    assert task.address == old.address and fresh.genesis_hash != w.chain.genesis_hash
    # an entry of the journal's first format (no chain in it), signed by the party itself
    legacy = {"task": task.address.lower(), "round": 0, "role": "participant", "cid": before.updates[0].update_cid}
    legacy |= {"samples": before.updates[0].samples, "refused": []}
    write_atomic(
        p0.journal.dir / f"{task.address.lower()}-0-participant.json",
        signed_document(p0.account, Domain.FEDERATED_JOURNAL, 1, legacy),
    )
    assert participant_step(dataclasses.replace(p0, chain=fresh), task.address, w.data[0]) == "round 0: submitted"
    submit_constant(task, 1e-3)
    assert aggregator_step(dataclasses.replace(w.aggregator, chain=fresh), task.address) == "round 0: aggregated"
    (after,) = task.rounds()
    assert after.updates[0].update_cid != before.updates[0].update_cid, "the previous chain's update was submitted"
    assert after.aggregate_cid != before.aggregate_cid, "the previous chain's aggregate was published"
    v = Verdict(target=task.address)
    verify_federated(fresh, w.store, task.address, v.add, identity=w.submitter.identity)
    assert v.ok, v.failures


def test_an_update_recorded_before_its_object_is_stored_is_waited_for_until_the_deadline(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A participant may publish its update's record before its object reaches the store (a
    slow store, or on purpose). Before (an audit), the aggregator refused it at once ("cannot
    open update …: not in the store"), and once the object was there, verify blamed the
    aggregator: "sound but was refused". Now the aggregator waits for it until the round's
    deadline (polled, nothing refused meanwhile); past the deadline one still missing is
    refused, and verify says which of the two parties may be at fault when it arrives later."""
    import io

    from eotrust.cid import cid_of_bytes
    from eotrust.crypto.age import encrypt_stream

    w = world
    task = open_task(w, rounds=1, quorum=1)
    snap = task.status()
    g = read_model(w.store, snap.model_cid)
    recipients = [snap.aggregator_recipient, snap.auditor_recipient]
    sealed: dict[int, bytes] = {}
    for i, p in enumerate(w.participants):
        delta: Weights = OrderedDict((k, np.full_like(v, 1e-3 * i)) for k, v in g.items() if v.dtype.kind == "f")
        out = io.BytesIO()
        encrypt_stream(io.BytesIO(Update(task.address, 0, i, 40, delta).to_bytes()), out, recipients)
        sealed[i] = out.getvalue()
        if i == 0:
            w.store.put_bytes(sealed[i])  # #0 stores first, as participant_step does; #1 and #2 do not
        task.submit_update(p.account, 0, cid_of_bytes(sealed[i]), 40)
    # everyone submitted: before, the round closed here with #1 and #2 refused
    assert (
        aggregator_step(w.aggregator, task.address)
        == "round 0: waiting for the stored updates of #1, #2 (until the deadline)"
    )
    assert w.store.put_bytes(sealed[1]) == cid_of_bytes(sealed[1])
    assert (
        aggregator_step(w.aggregator, task.address)
        == "round 0: waiting for the stored updates of #2 (until the deadline)"
    )
    assert task.rounds()[0].aggregate_cid is None
    mine_at(w.chain, snap.deadline + math.ceil(DEADLINE_SLACK_S) + 1)
    assert aggregator_step(w.aggregator, task.address) == "round 0: aggregated"
    (r0,) = task.rounds()
    assert r0.refused == [2]
    v = verdict(w, task.address, w.submitter.identity)
    assert v.ok, v.failures
    (judged,) = [c for c in v.checks if c.name == "round 0: refused updates are exactly the garbage ones"]
    assert judged.detail == "refused [2] (#2's update is not in this store)"
    # an aggregated update missing from the verifier's store: a check it cannot make, no blame
    from eotrust.errors import NotFoundError

    gone, size = r0.updates[0].update_cid, type(w.store).size

    def without_it(store: object, cid: str) -> int:
        if cid == gone:
            raise NotFoundError(f"object {cid} is not in the store")
        return size(store, cid)  # type: ignore[arg-type]

    with monkeypatch.context() as m:
        m.setattr(type(w.store), "size", without_it)
        v = verdict(w, task.address, w.submitter.identity)
    assert v.name == "INCOMPLETE" and not v.failures, v.checks
    (skipped,) = v.skipped
    assert skipped.detail == f"#0's update {gone} is not in this store: verify on a store that holds it"
    # #2's object arrives once the round is closed: sound, and refused; who is at fault, the
    # participant (late) or the aggregator, the store cannot say, and verify says so
    w.store.put_bytes(sealed[2])
    v = verdict(w, task.address, w.submitter.identity)
    assert [c.name for c in v.failures] == ["round 0: refused updates are exactly the garbage ones"]
    assert v.failures[0].detail == (
        "#2's update is sound but was refused after the round's deadline: either its object reached the store "
        "only after the aggregator looked (its participant's doing) or the aggregator refused a sound update"
    )
