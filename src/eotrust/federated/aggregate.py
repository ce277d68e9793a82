"""The deterministic aggregation of model updates: FedAvg's weighted average, and the
coordinate-wise median and trimmed mean of Flower's FedMedian and FedTrimmedAvg.

Flower's ``aggregate`` module (``flwr.server.strategy.aggregate``: ``aggregate``,
``aggregate_median``, ``aggregate_trimmed_avg``) is the reference; it could not be used here
(flwr pins protobuf < 7, typer < 0.21 and rich < 15, below eotrust's pins) and it sums in the
arrays' dtype in the order results arrive. These make the result a function of their inputs
only, so anyone can recompute it bit for bit: updates are taken in participant order, weights,
clipping and sums are float64, and only the final global model is rounded to its dtype.

Each participant chooses its own update, and under FedAvg its weight is the sample count it
declares: ``max_samples`` caps that weight and ``max_norm`` clips every delta to an L2 norm
(the server-side clipping of Flower's ``DifferentialPrivacyServerSideFixedClipping``, without
the noise), so that no one update moves the model further than the plan allows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from eotrust.errors import InvalidInputError
from eotrust.federated.weights import Weights, floating, l2_norm


@dataclass(frozen=True)
class WeightedDelta:
    """One accepted update: participant ``index``'s ``delta`` (local − global), over ``samples``."""

    index: int
    samples: int
    delta: Weights


def apply_average(
    global_weights: Weights,
    updates: Sequence[WeightedDelta],
    *,
    max_samples: int | None = None,
    max_norm: float | None = None,
) -> Weights:
    """``global + Σ (n_i / Σ n) · delta_i`` over the floating tensors (the rest as in ``global``),
    where ``n_i`` is the samples update ``i`` declares, at most ``max_samples``, and each delta is
    first clipped to the L2 norm ``max_norm``."""
    ordered = _ordered(updates)
    counted = [int(u.samples) if max_samples is None else min(int(u.samples), max_samples) for u in ordered]
    total = float(sum(counted))
    scales = _clip_scales(global_weights, ordered, max_norm)

    def combine(name: str, g: np.ndarray) -> np.ndarray:
        acc = np.zeros(g.shape, dtype=np.float64)
        for u, n, scale in zip(ordered, counted, scales):
            acc += (float(n) / total) * _delta64(u, name, scale)
        return acc

    return _applied(global_weights, combine)


def apply_median(
    global_weights: Weights, updates: Sequence[WeightedDelta], *, max_norm: float | None = None
) -> Weights:
    """``global`` + the coordinate-wise median of the (clipped) deltas; declared samples are not
    counted (Flower's FedMedian)."""
    ordered = _ordered(updates)
    scales = _clip_scales(global_weights, ordered, max_norm)

    def combine(name: str, g: np.ndarray) -> np.ndarray:
        stacked = np.stack([_delta64(u, name, s) for u, s in zip(ordered, scales)])
        median: np.ndarray = np.median(stacked, axis=0)
        return median

    return _applied(global_weights, combine)


def apply_trimmed_mean(
    global_weights: Weights, updates: Sequence[WeightedDelta], beta: float, *, max_norm: float | None = None
) -> Weights:
    """``global`` + the coordinate-wise mean of the (clipped) deltas after cutting the
    ``floor(beta · n)`` smallest and largest values of each weight; declared samples are not
    counted (Flower's FedTrimmedAvg)."""
    ordered = _ordered(updates)
    scales = _clip_scales(global_weights, ordered, max_norm)
    cut = int(beta * len(ordered))
    if 2 * cut >= len(ordered):
        raise InvalidInputError(f"trimming {cut} of {len(ordered)} updates from each end leaves none")

    def combine(name: str, g: np.ndarray) -> np.ndarray:
        stacked = np.sort(np.stack([_delta64(u, name, s) for u, s in zip(ordered, scales)]), axis=0)
        mean: np.ndarray = stacked[cut : len(ordered) - cut].mean(axis=0)
        return mean

    return _applied(global_weights, combine)


def _ordered(updates: Sequence[WeightedDelta]) -> list[WeightedDelta]:
    if not updates:
        raise InvalidInputError("there is no update to aggregate")
    ordered = sorted(updates, key=lambda u: u.index)
    if len({u.index for u in ordered}) != len(ordered):
        raise InvalidInputError("two updates from the same participant")
    return ordered


def _clip_scales(global_weights: Weights, ordered: list[WeightedDelta], max_norm: float | None) -> list[float]:
    """Each delta's factor: ``min(1, max_norm / ||delta||)`` (1 without a bound)."""
    if max_norm is None:
        return [1.0] * len(ordered)
    names = floating(global_weights)
    norms = [l2_norm(OrderedDict((k, u.delta[k]) for k in names)) for u in ordered]
    return [min(1.0, max_norm / n) if n > 0 else 1.0 for n in norms]


def _delta64(u: WeightedDelta, name: str, scale: float) -> np.ndarray:
    d = u.delta[name].astype(np.float64)
    return d if scale == 1.0 else d * scale


def _applied(global_weights: Weights, combine: Callable[[str, np.ndarray], np.ndarray]) -> Weights:
    """``global`` with ``combine(name, tensor)`` (a float64 step) added to each floating tensor."""
    out: Weights = OrderedDict()
    names = set(floating(global_weights))
    for name, g in global_weights.items():
        if name not in names:
            out[name] = g.copy()
            continue
        with np.errstate(over="ignore"):  # past float32: infinite, which the aggregator refuses to publish
            out[name] = (g.astype(np.float64) + combine(name, g)).astype(g.dtype)
    return out
