"""The evaluation metrics: pixel accuracy, per-class precision/recall/F1/IoU, mean IoU over the
classes present in the reference, the confusion matrix and the majority-class baseline.

Pure numbers (numpy and pydantic): the trainer's validation, the evaluator, federated rounds
and the figures all read them from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from eotrust.errors import InvalidInputError
from eotrust.limits import json_loads
from eotrust.ml.uncertainty import Calibration


class ClassMetrics(BaseModel):
    name: str
    code: int | None = None
    precision: float | None
    recall: float | None
    f1: float | None
    iou: float | None
    support: int
    predicted: int


class Metrics(BaseModel):
    """What an evaluation found."""

    pixel_accuracy: float
    mean_iou: float
    classes_present: list[str]
    per_class: list[ClassMetrics]
    confusion: list[list[int]]
    class_names: list[str]
    n_pixels: int
    majority_class: str | None = None
    majority_baseline_accuracy: float | None = None
    split: str | None = None
    source: dict[str, Any] = {}
    calibration: Calibration | None = None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def summary(self) -> str:
        lines = [
            f"pixel accuracy {self.pixel_accuracy:.3f}, mean IoU {self.mean_iou:.3f} over {len(self.classes_present)} "
            f"classes present ({self.n_pixels} pixels)"
        ]
        if self.majority_baseline_accuracy is not None:
            lines.append(
                f"majority-class baseline ({self.majority_class}): pixel accuracy {self.majority_baseline_accuracy:.3f}"
            )
        for c in self.per_class:
            if c.support or c.predicted:
                lines.append(
                    f"  {c.name:<22} P {_f(c.precision)}  R {_f(c.recall)}  F1 {_f(c.f1)}  IoU {_f(c.iou)}  n={c.support}"
                )
        if self.calibration is not None:
            lines.append(
                f"calibration: ECE {self.calibration.ece:.3f} (mean confidence {self.calibration.mean_confidence:.3f} "
                f"vs accuracy {self.calibration.accuracy:.3f}; largest bin gap {self.calibration.max_gap:.3f})"
            )
        return "\n".join(lines)


def _f(v: float | None) -> str:
    return "  -  " if v is None else f"{v:.3f}"


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """``cm[i, j]``: pixels of reference class i predicted as j (indices 0..k-1)."""
    truth, pred = np.asarray(truth).reshape(-1), np.asarray(pred).reshape(-1)
    if truth.shape != pred.shape:
        raise InvalidInputError(f"{truth.size} reference pixels but {pred.size} predictions")
    if truth.size and (truth.min() < 0 or truth.max() >= k or pred.min() < 0 or pred.max() >= k):
        raise InvalidInputError(f"class indices outside 0..{k - 1}")
    return np.bincount(truth * k + pred, minlength=k * k).reshape(k, k).astype(np.int64)


def metrics_from_confusion(
    cm: np.ndarray,
    class_names: Sequence[str],
    *,
    codes: Sequence[int] | None = None,
    majority: tuple[str, float] | None = None,
) -> Metrics:
    """Every metric from a confusion matrix. Mean IoU averages the classes present in the
    reference (support > 0); the majority baseline is the accuracy of always answering the
    reference's most frequent class, unless given."""
    cm = np.asarray(cm, dtype=np.int64)
    k = cm.shape[0]
    total = int(cm.sum())
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    per = []
    ious = []
    for i in range(k):
        p = tp[i] / predicted[i] if predicted[i] else None
        r = tp[i] / support[i] if support[i] else None
        f1 = (2 * p * r / (p + r) if (p or 0) + (r or 0) > 0 else 0.0) if p is not None and r is not None else None
        union = support[i] + predicted[i] - tp[i]
        iou = tp[i] / union if union else None
        if support[i]:
            ious.append(iou or 0.0)
        per.append(
            ClassMetrics(
                name=class_names[i],
                code=None if codes is None else int(codes[i]),
                precision=_r(p),
                recall=_r(r),
                f1=_r(f1),
                iou=_r(iou),
                support=int(support[i]),
                predicted=int(predicted[i]),
            )
        )
    if majority is None and total:
        top = int(np.argmax(support))
        majority = (class_names[top], float(support[top] / total))
    return Metrics(
        pixel_accuracy=float(tp.sum() / total) if total else 0.0,
        mean_iou=float(np.mean(ious)) if ious else 0.0,
        classes_present=[class_names[i] for i in range(k) if support[i]],
        per_class=per,
        confusion=cm.tolist(),
        class_names=list(class_names),
        n_pixels=total,
        majority_class=majority[0] if majority else None,
        majority_baseline_accuracy=majority[1] if majority else None,
    )


def _r(v: float | None) -> float | None:
    return None if v is None else float(round(float(v), 6))


def load_metrics(path: Path) -> Metrics:
    return Metrics.model_validate(json_loads(Path(path).read_text()))
