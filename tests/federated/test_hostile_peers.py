"""Parties of an accepted federated task against each other's nodes: a participant's update,
an aggregator's global model and a submitter's plan that each crashed a node (a traceback,
and the node's other tasks never stepped again: the bad object stays on the ledger, so every
restart crashed the same way), or exhausted it. Each is now refused in one line, recorded
where the protocol records refusals, and the node goes on with its other tasks."""

from __future__ import annotations

import io
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from fed_world import World, owner_sets, tiny_plan
from test_rounds import open_task, verdict

from eotrust.crypto.age import encrypt_stream
from eotrust.crypto.keys import recipient_of
from eotrust.errors import InvalidInputError
from eotrust.federated.aggregator import aggregator_step
from eotrust.federated.data import PixelSet
from eotrust.federated.participant import participant_step
from eotrust.federated.plan import FederatedPlan, PrivacyConfig
from eotrust.federated.roles import RoleContext, read_model
from eotrust.federated.update import UPDATE_MAGIC, GarbageUpdateError, Update
from eotrust.federated.weights import MAGIC, decode, encode
from eotrust.ledger.federated import FederatedSnapshot

HUGE = "1e400"  # JSON's number that Python reads as float infinity: int() of it overflows


def _weights_with_header(header: str) -> bytes:
    raw = header.encode()
    return MAGIC + struct.pack("<I", len(raw)) + raw


def test_numbers_no_integer_holds_are_malformed_not_a_crash() -> None:
    with pytest.raises(InvalidInputError, match="malformed"):
        decode(_weights_with_header(f'[{{"name": "w", "dtype": "float32", "shape": [{HUGE}, 4]}}]'))
    head = f'{{"task": "0xabc", "round": {HUGE}, "index": 0, "samples": 5}}'.encode()
    with pytest.raises(GarbageUpdateError, match="malformed"):
        Update.from_bytes(UPDATE_MAGIC + struct.pack("<I", len(head)) + head + encode(OrderedDict()))


def test_an_update_with_a_huge_round_is_refused_and_verify_agrees(world: World) -> None:
    w = world
    task = open_task(w, rounds=1, quorum=2)
    for p, data in zip(w.participants[:2], w.data[:2]):
        participant_step(p, task.address, data)
    snap = task.status()
    head = f'{{"task": "{task.address.lower()}", "round": {HUGE}, "index": 2, "samples": 50}}'.encode()
    plaintext = UPDATE_MAGIC + struct.pack("<I", len(head)) + head + encode(OrderedDict())
    sealed = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), sealed, [snap.aggregator_recipient, snap.auditor_recipient])
    task.submit_update(w.participants[2].account, 0, w.store.put_bytes(sealed.getvalue()), 50)
    assert aggregator_step(w.aggregator, task.address) == "round 0: aggregated"
    assert task.rounds()[0].refused == [2]
    assert verdict(w, task.address, w.submitter.identity).ok


def _publish(w: World, address: str, model: dict[str, np.ndarray]) -> None:
    from eotrust.ledger.federated import FederatedTaskClient

    FederatedTaskClient(w.chain, address).publish_aggregate(
        w.aggregator.account, 0, w.store.put_bytes(encode(OrderedDict(model)))
    )


@pytest.mark.parametrize("change", ["renamed", "reshaped", "infinite", "huge"])
def test_a_global_model_unlike_the_plans_is_refused_by_a_participant(world: World, change: str) -> None:
    """A hostile aggregator publishes a model of exactly the plan's size whose tensors are not
    the plan's (a name, a shape): load_state_dict's RuntimeError crashed the participant's node.
    Or one holding infinities (before, an audit: participants trained on it, their updates were
    all NaN and each was recorded as a participant's garbage)."""
    w = world
    task = open_task(w, rounds=2)
    for p, data in zip(w.participants, w.data):
        participant_step(p, task.address, data)
    g = read_model(w.store, task.status().model_cid)
    first = next(iter(g))
    model = dict(g)
    if change == "renamed":
        model = {("x" * len(first) if k == first else k): v for k, v in g.items()}
    elif change == "reshaped":
        model[first] = g[first].reshape(-1)
    elif change == "infinite":
        model[first] = np.full_like(g[first], np.inf)
    else:  # finite, but nothing trains from it: the owner's update would be NaN, recorded as its garbage
        model = {k: (np.full_like(v, 1e38) if v.dtype.kind == "f" else v) for k, v in g.items()}
    _publish(w, task.address, model)  # round 0's aggregate: round 1's global model
    with pytest.raises(
        InvalidInputError, match=r"is not the plan's model: tensor |holds NaN or infinite values|gave NaN or infinite"
    ):
        participant_step(w.participants[0], task.address, w.data[0])
    assert task.status().submitted == []


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"classes": ["a", "b"], "class_codes": [1, 2]}, "2 classes"),
        ({"in_channels": 2}, "2 channels"),
        ({"architecture": "enet", "params": {}}, "enet is not a per-pixel model"),
    ],
)
def test_a_plan_unlike_the_owners_data_is_refused_before_training(
    world: World, changes: dict[str, object], says: str
) -> None:
    w = world
    task = open_task(w, rounds=1, plan=tiny_plan(**changes))
    with pytest.raises(InvalidInputError, match=says):
        participant_step(w.participants[0], task.address, w.data[0])
    assert task.status().submitted == []


def test_a_plan_out_of_bounds_is_refused() -> None:
    good = tiny_plan().model_dump()
    for bad in ({"seed": 2**70}, {"seed": -1}, {"learning_rate": 1e300}):
        with pytest.raises(ValueError):
            FederatedPlan.model_validate({**good, **bad})
    for privacy in ({"clip": 1.0, "noise_multiplier": 1e-300}, {"clip": 1e300, "noise_multiplier": 1.0}):
        with pytest.raises(ValueError):
            PrivacyConfig.model_validate(privacy)


def test_a_model_too_large_to_train_is_refused_before_it_is_built() -> None:
    """1024 hidden channels, 8 layers, kernel 15, 16 members, all within the architecture's
    bounds: 1.6 billion parameters (6 GiB), allocated (on a 4 GB machine: the node killed)
    before anything was checked; counted now on torch's meta device and refused."""
    params = {"hidden": 1024, "layers": 8, "kernel_size": 15, "dropout": 0.0, "pooling": "avg", "members": 16}
    plan = tiny_plan(params=params)
    assert plan.parameter_count() > 10**9
    with pytest.raises(InvalidInputError, match=r"parameters; a federated plan's model may have at most 20,000,000"):
        plan.initial_weights()


def test_a_node_logs_a_bug_on_one_task_and_steps_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything a task makes go wrong, not only an EotrustError, is one line of the node's log;
    its other tasks go on (before, any other exception ended `node run` with a traceback)."""
    from test_consent import _stranger_task

    from eotrust.backends import Backends
    from eotrust.nodes.federated import FederatedNode
    from eotrust.party import Role, create_party
    from eotrust.settings import load_settings

    home = load_settings(home=tmp_path / "home")
    owner = create_party(home, "acme", Role.DATA_OWNER)
    stranger = create_party(home, "mallory", Role.SUBMITTER)
    backends = Backends(home)
    bad, good = (_stranger_task(backends, stranger, owner.address, stranger) for _ in range(2))
    real = participant_step

    def buggy(ctx: RoleContext, address: str, data: PixelSet, snap: FederatedSnapshot | None = None) -> str:
        if address == bad.address:
            raise RuntimeError("a bug\nwith a second line")
        return real(ctx, address, data, snap)

    monkeypatch.setattr("eotrust.nodes.federated.participant_step", buggy)
    lines: list[str] = []
    node = FederatedNode(
        backends, owner, "participant", data=owner_sets()[0][0], log=lines.append, accept_from=[stranger.address]
    )
    seen = node.step_all()
    assert seen[bad.address] == "error: unexpected RuntimeError: a bug" and seen[good.address] == "round 0: submitted"
    assert any(line.endswith("error: unexpected RuntimeError: a bug") for line in lines)


@pytest.mark.parametrize("model", ["other weights", "NaN"])
def test_round_0_must_start_from_the_plans_initial_model(world: World, model: str) -> None:
    """Before (an audit), the contract took any model for round 0 and participants checked only
    its tensors' names, shapes and dtypes: a submitter started the owners from weights of its
    choosing (or NaN: every owner's update was refused as garbage), and `verify` said ok. Now a
    participant trains round 0 only from the plan's seeded initial model, and `verify` checks it."""
    from eotrust.federated.weights import floating
    from eotrust.ledger.federated import FederatedFactoryClient

    w, plan = world, tiny_plan()
    weights = plan.initial_weights()
    for name in floating(weights):
        weights[name] = (
            (weights[name] + 1).astype(weights[name].dtype) if model == "other weights" else weights[name] * np.nan
        )
    task = FederatedFactoryClient(w.chain).create(
        w.submitter.account,
        aggregator=w.aggregator.address,
        aggregator_recipient=recipient_of(w.aggregator.identity),
        auditor_recipient=recipient_of(w.submitter.identity),
        plan_cid=w.store.put_bytes(plan.canonical()),
        model_cid=w.store.put_bytes(encode(weights)),
        participants=[p.address for p in w.participants],
        rounds=1,
        quorum=3,
        round_seconds=3600,
    )
    with pytest.raises(InvalidInputError) as caught:
        participant_step(w.participants[0], task.address, w.data[0])
    assert "is not the plan's initial model" in caught.value.message and "\n" not in caught.value.message
    assert task.status().submitted == []
    v = verdict(w, task.address, w.submitter.identity)
    assert not v.ok and any("initial model" in c.name and c.ok is False for c in v.checks), v.checks


def test_an_aggregate_that_is_not_finite_is_not_published(world: World) -> None:
    """Finite updates can sum past float32 when the plan sets no ``max_update_norm``: before (an
    audit), the aggregator published a model of infinities, which every later round inherited.
    Now the task fails, saying why, and nothing is published."""
    from chain_clock import mine_at

    from eotrust.federated.update import seal_update
    from eotrust.federated.weights import floating
    from eotrust.ledger.federated import FederatedState

    w = world
    task = open_task(w, rounds=2, quorum=1)
    for p, data in zip(w.participants, w.data):
        participant_step(p, task.address, data)
    g = read_model(w.store, task.status().model_cid)
    _publish(w, task.address, {k: (np.full_like(v, 2e38) if v.dtype.kind == "f" else v) for k, v in g.items()})
    snap = task.status()
    recipients = [snap.aggregator_recipient, snap.auditor_recipient]
    big = OrderedDict((k, np.full_like(g[k], 3e38)) for k in floating(g))  # finite, as every check asks
    task.submit_update(
        w.participants[0].account, 1, seal_update(w.store, Update(task.address, 1, 0, 5, big), recipients), 5
    )
    mine_at(w.chain, snap.deadline + 120)
    assert aggregator_step(w.aggregator, task.address) == "failed"
    after = task.status()
    assert after.state == FederatedState.FAILED and after.round == 1


def test_an_update_sealed_for_the_aggregator_alone_does_not_make_verify_blame_it(world: World) -> None:
    """Before (an audit), a participant that sealed a sound update for the aggregator only (not
    the auditor) made the submitter's `verify` report the honest aggregator as aggregating
    garbage (NOT VERIFIED), while `verify` with the aggregator's key said ok. An update the
    verifier's key cannot open is now a check it cannot make (INCOMPLETE), never a misjudgment."""
    from eotrust.federated.local import train_local
    from eotrust.federated.update import seal_update

    w = world
    task = open_task(w, rounds=1, quorum=3)
    for p, data in zip(w.participants[:2], w.data[:2]):
        participant_step(p, task.address, data)
    snap = task.status()
    g = read_model(w.store, snap.model_cid)
    delta = train_local(tiny_plan(), g, w.data[2], round_=0, index=2)
    update = Update(task.address, 0, 2, len(w.data[2]), delta)
    cid = seal_update(w.store, update, [snap.aggregator_recipient])  # the auditor left out
    task.submit_update(w.participants[2].account, 0, cid, len(w.data[2]))
    assert aggregator_step(w.aggregator, task.address) == "round 0: aggregated"
    assert task.rounds()[0].refused == []
    audit = verdict(w, task.address, w.submitter.identity)
    assert not audit.failures, audit.failures
    assert audit.name == "INCOMPLETE" and any("#2" in c.detail and c.ok is None for c in audit.checks), audit.checks
    assert verdict(w, task.address, w.aggregator.identity).ok
