"""Attack: the aggregator (or the auditor, who opens every update too) removes a participant's
differential-privacy noise.

Before (an audit), the noise was drawn from a generator seeded with the plan's seed, the round
and the participant's index — all public (the plan is stored in plain text, the rest is on the
ledger). The aggregator regenerated it and subtracted it: a participant's update under noise of
σ = 5 per weight (norm 32.3) came back as the exact clipped update (norm 0.396, every weight
within 4e-7), and the ε that `federated create` prints meant nothing. Now the noise comes from
the operating system's entropy, fresh each time: the same training twice gives the same
clipped update and different noise."""

from __future__ import annotations

import numpy as np
from fed_world import owner_sets, tiny_plan

from eotrust.federated.local import train_local
from eotrust.federated.plan import PrivacyConfig
from eotrust.federated.weights import floating


def test_the_noise_is_no_function_of_public_values() -> None:
    sets, _ = owner_sets()
    plan = tiny_plan(privacy=PrivacyConfig(clip=1.0, noise_multiplier=5.0))
    start = plan.initial_weights()
    first, second = (train_local(plan, start, sets[1], round_=0, index=1) for _ in range(2))
    names = list(floating(first))
    difference = np.concatenate([(first[n].astype(np.float64) - second[n]).ravel() for n in names])
    # two draws of N(0, σ²) per weight: their difference has standard deviation σ·√2 ≈ 7.07
    # (52 weights: the estimate's standard error is 0.7; these bounds are beyond 3.5 of them)
    assert 4.5 < float(difference.std()) < 10.5, difference.std()


def test_without_privacy_local_training_is_reproducible() -> None:
    """The control: the same training twice gives the same update bit for bit, so every
    difference above is the noise."""
    sets, _ = owner_sets()
    plan, start = tiny_plan(), tiny_plan().initial_weights()
    first, second = (train_local(plan, start, sets[1], round_=0, index=1) for _ in range(2))
    assert all(np.array_equal(first[n], second[n]) for n in floating(first))
