"""How sure a model is, per pixel, and whether its probabilities can be believed.

- :func:`confidence_bands`: from class probabilities ``(K, ...)``, the top probability, the
  margin between the two most likely classes and the normalised entropy (0 = certain,
  1 = uniform) — written as a three-band GeoTIFF beside a class map.
- :func:`calibration`: expected calibration error (ECE) over equal-width confidence bins and
  the per-bin accuracy and confidence behind a reliability diagram.
- :func:`mc_dropout`: probabilities averaged over stochastic forward passes with dropout left
  on (MC-dropout), so a network's own disagreement with itself shows as lower confidence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import BaseModel

BANDS = ("confidence", "margin", "entropy")


def confidence_bands(probs: np.ndarray) -> np.ndarray:
    """``(3, ...)`` float32: top probability, top-1 minus top-2 margin, entropy / log(K)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    k = p.shape[0]
    top2 = np.sort(p, axis=0)[-2:] if k > 1 else np.concatenate([np.zeros_like(p), p])
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -(np.where(p > 0, p * np.log(p), 0.0)).sum(axis=0) / (np.log(k) if k > 1 else 1.0)
    return np.stack([top2[-1], top2[-1] - top2[-2], np.clip(ent, 0, 1)]).astype(np.float32)


class CalibrationBin(BaseModel):
    lower: float
    upper: float
    count: int
    confidence: float | None
    accuracy: float | None


class Calibration(BaseModel):
    """Expected calibration error and its bins (for a reliability diagram)."""

    ece: float
    max_gap: float
    mean_confidence: float
    accuracy: float
    bins: list[CalibrationBin]


def calibration(confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 10) -> Calibration:
    """ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b| over ``n_bins`` equal-width bins of the
    top-class probability (Guo et al. 2017)."""
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    ok = np.asarray(correct, dtype=bool).reshape(-1)
    n = max(conf.size, 1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    bins, ece, gap = [], 0.0, 0.0
    for b in range(n_bins):
        m = which == b
        c = int(m.sum())
        if c:
            mc, ma = float(conf[m].mean()), float(ok[m].mean())
            ece += c / n * abs(ma - mc)
            gap = max(gap, abs(ma - mc))
        bins.append(
            CalibrationBin(
                lower=float(edges[b]),
                upper=float(edges[b + 1]),
                count=c,
                confidence=float(conf[m].mean()) if c else None,
                accuracy=float(ok[m].mean()) if c else None,
            )
        )
    return Calibration(
        ece=float(ece),
        max_gap=float(gap),
        mean_confidence=float(conf.mean()) if conf.size else 0.0,
        accuracy=float(ok.mean()) if ok.size else 0.0,
        bins=bins,
    )


def mc_dropout(forward: Callable[[], np.ndarray], model: object, samples: int) -> np.ndarray:
    """The mean of ``samples`` calls of ``forward`` (class probabilities) with the model's
    dropout layers in training mode (batch norm stays in evaluation mode)."""
    from torch import nn

    assert isinstance(model, nn.Module)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for m in drops:
        m.train()
    try:
        total = forward()
        for _ in range(samples - 1):
            total = total + forward()
        return total / samples
    finally:
        for m in drops:
            m.eval()
