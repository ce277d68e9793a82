"""Differential privacy of participants' updates: L2 clipping, Gaussian noise, and the ε spent.

Each participant clips its whole update (local − global) to norm ``clip`` and adds noise of
standard deviation ``noise_multiplier × clip`` before sealing it: DP-FedAvg's Gaussian
mechanism at the level of a participant's whole dataset, applied by the participant itself
with noise from the operating system's entropy (nothing another party knows could regenerate
it), so the guarantee does not depend on trusting the aggregator. Over R rounds it is the R-fold
composition of the Gaussian mechanism (every participant takes part in every round: sampling
rate 1); ε for the plan's δ comes from Opacus's Rényi-DP accountant.
"""

from __future__ import annotations

import numpy as np

from eotrust.federated.plan import PrivacyConfig
from eotrust.federated.weights import Weights, floating, l2_norm

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def privatise(delta: Weights, config: PrivacyConfig, rng: np.random.Generator) -> Weights:
    """``delta`` clipped to ``config.clip`` with Gaussian noise added (floating tensors only)."""
    norm = l2_norm(delta)
    scale = min(1.0, config.clip / norm) if norm > 0 else 1.0
    sigma = config.noise_multiplier * config.clip
    out = delta.copy()
    for k in floating(delta):
        noisy = delta[k].astype(np.float64) * scale + rng.normal(0.0, sigma, size=delta[k].shape)
        out[k] = noisy.astype(delta[k].dtype)
    return out


def epsilon(config: PrivacyConfig, rounds: int) -> float:
    """The ε of the (ε, δ) guarantee after ``rounds`` rounds (Opacus RDP accountant)."""
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    rdp = compute_rdp(q=1.0, noise_multiplier=config.noise_multiplier, steps=int(rounds), orders=ORDERS)
    eps, _ = get_privacy_spent(orders=ORDERS, rdp=rdp, delta=config.delta)
    return float(eps)
