"""The deterministic weighted average of model updates (FedAvg's aggregation).

Flower's ``aggregate`` (``flwr.server.strategy.aggregate``) is the reference; it could not be
used here (flwr pins protobuf < 7, typer < 0.21 and rich < 15, below eotrust's pins) and it
sums in the arrays' dtype in the order results arrive. This one makes the result a function of
its inputs only, so anyone can recompute it bit for bit: updates are taken in participant
order, the weights ``samples_i / Σ samples`` and the sum are float64, and only the final
global model is rounded to float32.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eotrust.errors import InvalidInputError
from eotrust.federated.weights import Weights, floating


@dataclass(frozen=True)
class WeightedDelta:
    """One accepted update: participant ``index``'s ``delta`` (local − global), over ``samples``."""

    index: int
    samples: int
    delta: Weights


def apply_average(global_weights: Weights, updates: Sequence[WeightedDelta]) -> Weights:
    """``global + Σ (samples_i / Σ samples) · delta_i`` over the floating tensors; the rest as in ``global``."""
    if not updates:
        raise InvalidInputError("there is no update to aggregate")
    ordered = sorted(updates, key=lambda u: u.index)
    if len({u.index for u in ordered}) != len(ordered):
        raise InvalidInputError("two updates from the same participant")
    total = float(sum(int(u.samples) for u in ordered))
    out: Weights = OrderedDict()
    names = set(floating(global_weights))
    for name, g in global_weights.items():
        if name not in names:
            out[name] = g.copy()
            continue
        acc = np.zeros(g.shape, dtype=np.float64)
        for u in ordered:
            acc += (float(u.samples) / total) * u.delta[name].astype(np.float64)
        out[name] = (g.astype(np.float64) + acc).astype(g.dtype)
    return out
