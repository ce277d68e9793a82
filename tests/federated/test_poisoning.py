"""A participant that poisons the joint model. Under FedAvg, each participant's update weighs
the sample count it declares on the ledger (up to 2^32 - 1), and nothing bounds the size of
its delta: one participant of three declared the most samples and sent its delta scaled so
that the average landed on a model of its choosing (model replacement). The plan's defences:
``max_samples`` caps the weight any one update carries, ``max_update_norm`` clips every delta
on the aggregator's side (so the step of a round is at most that long), and the strategies
``fedmedian`` and ``fedtrimmedavg`` (Flower's FedMedian and FedTrimmedAvg) take each weight
from the middle of the updates. ``verify`` recomputes each aggregate with the same rules."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pytest
from fed_world import World, tiny_plan
from test_rounds import open_task, verdict

from eotrust.errors import InvalidInputError
from eotrust.federated.aggregator import aggregator_step
from eotrust.federated.participant import participant_step
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.roles import read_model
from eotrust.federated.update import Update, open_update, seal_update
from eotrust.federated.weights import Weights, floating
from eotrust.ledger.federated import FederatedFactoryClient

MOST_SAMPLES = 2**32 - 1  # the ledger's largest sample count (uint32)


@dataclass(frozen=True)
class Round:
    global_model: Weights
    target: Weights
    aggregate: Weights
    honest: list[Weights]  # the two honest participants' deltas


def _round_with_an_attacker(w: World, *, samples: int, scale: float, **plan: object) -> Round:
    """Participants 0 and 1 train honestly; participant 2 submits ``scale`` x (target - global),
    declaring ``samples``, where the target is every floating weight of the global model + 1."""
    task = open_task(w, rounds=1, plan=tiny_plan(**plan))
    for p, data in zip(w.participants[:2], w.data[:2]):
        assert participant_step(p, task.address, data) == "round 0: submitted"
    snap = task.status()
    g = read_model(w.store, snap.model_cid)
    target: Weights = OrderedDict((k, v + np.float32(1) if k in floating(g) else v) for k, v in g.items())
    delta: Weights = OrderedDict((k, (target[k] - g[k]) * np.float32(scale)) for k in floating(g))
    recipients = [snap.aggregator_recipient, snap.auditor_recipient]
    task.submit_update(
        w.participants[2].account,
        0,
        seal_update(w.store, Update(task.address, 0, 2, samples, delta), recipients),
        samples,
    )
    assert aggregator_step(w.aggregator, task.address) == "round 0: aggregated"
    (r0,) = task.rounds()
    assert r0.refused == [] and r0.aggregate_cid is not None
    v = verdict(w, task.address, w.submitter.identity)
    assert v.ok, [c.detail for c in v.failures]  # verify recomputes the aggregate with the plan's rules
    honest = [
        open_update(w.store, u.update_cid, w.aggregator.identity).delta for u in task.updates_of(0) if u.index < 2
    ]
    assert len(honest) == 2
    return Round(g, target, read_model(w.store, r0.aggregate_cid), honest)


def _step(g: Weights, new: Weights) -> float:
    """The L2 length of the round's step (new - global) over the floating weights."""
    return float(np.sqrt(sum(float(np.sum((new[k].astype(np.float64) - g[k]) ** 2)) for k in floating(g))))


def _mean_shift(g: Weights, new: Weights) -> float:
    return float(np.mean(np.concatenate([(new[k].astype(np.float64) - g[k]).ravel() for k in floating(g)])))


def test_control_under_plain_fedavg_one_participant_replaces_the_model(world: World) -> None:
    # declaring the most samples, the attacker's delta weighs ~1: the aggregate is its target
    r = _round_with_an_attacker(world, samples=MOST_SAMPLES, scale=1.0)
    assert _mean_shift(r.global_model, r.aggregate) > 0.99
    assert all(np.allclose(r.aggregate[k], r.target[k], atol=1e-3) for k in floating(r.target))


def test_a_capped_weight_leaves_the_attacker_one_share(world: World) -> None:
    r = _round_with_an_attacker(world, samples=MOST_SAMPLES, scale=1.0, max_samples=120)
    # each of the three updates weighs 120 samples: the target's +1 counts a third
    assert 0.25 < _mean_shift(r.global_model, r.aggregate) < 0.4


def test_a_capped_weight_does_not_stop_a_scaled_delta_but_clipping_does(world: World) -> None:
    # scaled by 3, a third of the weight is enough to land on the target ...
    r = _round_with_an_attacker(world, samples=120, scale=3.0, max_samples=120)
    assert _mean_shift(r.global_model, r.aggregate) > 0.9
    assert _step(r.global_model, r.aggregate) > 4 * 0.5  # many times the bound below
    # ... unless every delta is clipped on the aggregator's side: the round's step is at most 0.5
    r = _round_with_an_attacker(world, samples=120, scale=3.0, max_samples=120, max_update_norm=0.5)
    assert _step(r.global_model, r.aggregate) <= 0.5 + 1e-6


@pytest.mark.parametrize(("strategy", "extra"), [("fedmedian", {}), ("fedtrimmedavg", {"trim_beta": 0.34})])
def test_the_middle_of_three_ignores_one_poisoned_update(world: World, strategy: str, extra: dict[str, object]) -> None:
    r = _round_with_an_attacker(world, samples=MOST_SAMPLES, scale=1000.0, strategy=strategy, **extra)
    # every weight of the aggregate lies between the two honest participants' models
    g, (a, b) = r.global_model, r.honest
    for k in floating(g):
        lo = np.minimum(a[k], b[k]).astype(np.float64) + g[k]
        hi = np.maximum(a[k], b[k]).astype(np.float64) + g[k]
        assert np.all(r.aggregate[k] >= lo - 1e-6) and np.all(r.aggregate[k] <= hi + 1e-6), k


def test_the_plans_defences_are_checked() -> None:
    good = {**tiny_plan().model_dump(), "max_samples": 120, "max_update_norm": 0.5}
    for plan in (
        FederatedPlan.model_validate(good),
        FederatedPlan.model_validate({**good, "strategy": "fedtrimmedavg", "trim_beta": 0.3, "max_samples": None}),
    ):
        assert FederatedPlan.parse(plan.canonical()) == plan
    bad_values = ({"max_samples": 0}, {"max_update_norm": 0.0}, {"trim_beta": 0.5}, {"strategy": "krum"})
    for bad in (*bad_values, {"strategy": "fedmedian"}):  # a median counts no samples: a cap would mislead
        with pytest.raises(ValueError):
            FederatedPlan.model_validate({**good, **bad})
    with pytest.raises(
        InvalidInputError, match=r"^the federated plan is not valid: field max_update_norm: .*greater than 0$"
    ):
        FederatedPlan.parse(b'{"classes": ["a", "b"], "class_codes": [1, 2], "timesteps": 3, "max_update_norm": -1}')


@pytest.mark.parametrize(
    ("strategy", "extra", "quorum", "said"),
    [
        ("fedtrimmedavg", {}, None, "trims floor(0.2 × 3) = 0 updates from each end"),  # the default trim
        ("fedtrimmedavg", {"trim_beta": 0.3}, None, "trims floor(0.3 × 3) = 0 updates from each end"),
        ("fedmedian", {}, 2, "the median of 2 updates is their mean"),
    ],
)
def test_a_middle_that_is_the_mean_is_refused_when_the_task_opens(
    world: World, strategy: str, extra: dict[str, object], quorum: int | None, said: str
) -> None:
    """Before (an audit), fedtrimmedavg with its default trim of 0.2 and three participants cut
    floor(0.6) = 0 updates: the plain mean, which one update of +3000 moved 1000 on every
    weight; a median of a quorum of two likewise. `federated create` printed the strategy as if
    it held. Now a task whose quorum leaves its middle no update to drop is refused."""
    factory = FederatedFactoryClient(world.chain)
    before = factory.all_tasks()
    with pytest.raises(InvalidInputError) as caught:
        open_task(world, quorum=quorum, plan=tiny_plan(strategy=strategy, **extra))
    assert said in caught.value.message and "\n" not in caught.value.message
    assert factory.all_tasks() == before  # refused before any contract
