"""Evaluation: pixel accuracy, per-class precision/recall/F1/IoU, mean IoU over the classes
present in the reference, the confusion matrix, and the majority-class baseline beside them —
written as JSON and as a PNG figure.

:func:`evaluate_dataset` scores a split of a training dataset (the held-out blocks);
:func:`evaluate_raster` scores a checkpoint on any raster laid out like the shared data (a
time series GeoTIFF, optionally its cloud mask) against any label raster on the same grid,
window by window. Reference classes the model does not know still count: their pixels are
errors, and they appear in the matrix as rows the model never predicts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from eotrust.errors import InvalidInputError
from eotrust.ml.uncertainty import Calibration, calibration


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
        lines = [f"pixel accuracy {self.pixel_accuracy:.3f}, mean IoU {self.mean_iou:.3f} over {len(self.classes_present)} "
                 f"classes present ({self.n_pixels} pixels)"]
        if self.majority_baseline_accuracy is not None:
            lines.append(f"majority-class baseline ({self.majority_class}): pixel accuracy {self.majority_baseline_accuracy:.3f}")
        for c in self.per_class:
            if c.support or c.predicted:
                lines.append(f"  {c.name:<22} P {_f(c.precision)}  R {_f(c.recall)}  F1 {_f(c.f1)}  IoU {_f(c.iou)}  n={c.support}")
        if self.calibration is not None:
            lines.append(f"calibration: ECE {self.calibration.ece:.3f} (mean confidence {self.calibration.mean_confidence:.3f} "
                         f"vs accuracy {self.calibration.accuracy:.3f}; largest bin gap {self.calibration.max_gap:.3f})")
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


def metrics_from_confusion(cm: np.ndarray, class_names: Sequence[str], *, codes: Sequence[int] | None = None,
                           majority: tuple[str, float] | None = None) -> Metrics:
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
        per.append(ClassMetrics(name=class_names[i], code=None if codes is None else int(codes[i]),
                                precision=_r(p), recall=_r(r), f1=_r(f1), iou=_r(iou),
                                support=int(support[i]), predicted=int(predicted[i])))
    if majority is None and total:
        top = int(np.argmax(support))
        majority = (class_names[top], float(support[top] / total))
    return Metrics(
        pixel_accuracy=float(tp.sum() / total) if total else 0.0,
        mean_iou=float(np.mean(ious)) if ious else 0.0,
        classes_present=[class_names[i] for i in range(k) if support[i]],
        per_class=per, confusion=cm.tolist(), class_names=list(class_names), n_pixels=total,
        majority_class=majority[0] if majority else None,
        majority_baseline_accuracy=majority[1] if majority else None,
    )


def _r(v: float | None) -> float | None:
    return None if v is None else float(round(float(v), 6))


def reliability_path(png_path: Path) -> Path:
    """Where the reliability diagram goes beside a metrics figure: ``NAME-reliability.png``."""
    return png_path.with_name(f"{png_path.stem}-reliability.png")


def write_metrics(metrics: Metrics, json_path: Path | None, png_path: Path | None, *, title: str = "") -> None:
    """The metrics as JSON, the confusion/IoU figure and, when calibration was measured, a
    reliability diagram beside it (:func:`reliability_path`)."""
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(metrics.to_json() + "\n")
    if png_path is not None:
        from eotrust.ml.figures import metrics_figure, reliability_figure

        metrics_figure(metrics, png_path, title=title)
        if metrics.calibration is not None:
            reliability_figure(metrics.calibration, reliability_path(png_path), title=title)


def evaluate_dataset(checkpoint: Path, dataset_path: Path, *, split: str = "test", device: str | None = None) -> Metrics:
    """Score a checkpoint on one split of a training dataset (by default the test blocks)."""
    import torch

    from eotrust.eo.dataset import TrainingDataset
    from eotrust.ml.train import (
        _pad_to,
        load_checkpoint,
        normalise_series,
        normalise_tiles,
        pick_device,
        predict_logits,
    )

    dev = pick_device(device)
    model, meta = load_checkpoint(checkpoint, device=str(dev))
    with TrainingDataset(dataset_path) as ds:
        m = ds.manifest
        if [c.name for c in m.classes] != list(meta["classes"]):
            raise InvalidInputError(f"the dataset's classes {[c.name for c in m.classes]} are not the model's {meta['classes']}")
        mean, std = np.asarray(meta["normalisation"]["mean"]), np.asarray(meta["normalisation"]["std"])
        if meta["input_kind"] == "pixel":
            x, y = ds.pixels(split)
            if len(y) == 0:
                raise InvalidInputError(f"the {split} split of {dataset_path} holds no labelled pixel")
            proba = torch.softmax(predict_logits(model, torch.from_numpy(normalise_series(x, mean, std)), dev), 1).numpy()
            pred, conf = proba.argmax(1), proba.max(1)
            truth = y
        else:
            from eotrust.ml.models.enet import SPATIAL_MULTIPLE

            x, y = ds.tiles(split)
            if len(y) == 0:
                raise InvalidInputError(f"the {split} split of {dataset_path} holds no tile")
            xp, yp = _pad_to(normalise_tiles(x, mean, std), y, SPATIAL_MULTIPLE)
            proba = torch.softmax(predict_logits(model, torch.from_numpy(xp), dev, batch=16), 1).numpy()
            keep = yp >= 0
            truth, pred, conf = yp[keep], proba.argmax(1)[keep], proba.max(1)[keep]
        k = len(meta["classes"])
        cm = confusion_matrix(truth, pred, k)
        train_counts = np.array([m.counts["train"].get(c, 0) for c in meta["classes"]])
        top = int(np.argmax(train_counts))
        majority = (meta["classes"][top], float(cm[top].sum() / max(cm.sum(), 1)))
        metrics = metrics_from_confusion(cm, meta["classes"], codes=meta.get("class_codes"), majority=majority)
        metrics.split = split
        metrics.source = {"dataset": str(dataset_path), "checkpoint": str(checkpoint)}
        metrics.calibration = calibration(conf, pred == truth)
        return metrics


def evaluate_raster(checkpoint: Path, raster: Path, labels: Path, *, cloud_mask: Path | None = None,
                    band: str | None = None, device: str | None = None, block: int | None = None) -> Metrics:
    """Score a checkpoint on a raster against a label raster on the same grid, window by
    window (bounded memory). Labels 0 are no data; every other code counts."""
    from eotrust.eo.labels import NODATA_CODE, check_grid, classes_of
    from eotrust.eo.raster import add_pair_counts, open_raster, read
    from eotrust.ml.predict import Predictor

    predictor = Predictor.load(checkpoint, device=device)
    cube = predictor.input_cube(raster, cloud_mask=cloud_mask, band=band)
    check_grid(labels, cube.grid)
    model_codes = list(predictor.meta["class_codes"])
    names = list(predictor.meta["classes"])
    declared = classes_of(labels)
    counts: dict[tuple[int, int], int] = {}
    confs, oks = [], []
    with open_raster(labels) as lds:
        for win, proba, valid in predictor.iter_predictions(cube, block=block):
            truth = read(lds, 1, window=win)
            pred = np.asarray(model_codes)[proba.argmax(0)]
            keep = (truth != NODATA_CODE) & valid
            add_pair_counts(counts, truth[keep], pred[keep])
            confs.append(proba.max(0)[keep])
            oks.append(pred[keep] == truth[keep])
    extra = sorted({t for t, _ in counts if t not in model_codes})
    codes = model_codes + extra
    all_names = names + [declared.name_of(c) if declared else f"class {c}" for c in extra]
    cm = np.zeros((len(codes), len(codes)), dtype=np.int64)
    pos = {c: i for i, c in enumerate(codes)}
    for (t, p), k in counts.items():
        cm[pos[t], pos[p]] += k
    metrics = metrics_from_confusion(cm, all_names, codes=codes)
    if confs:
        metrics.calibration = calibration(np.concatenate(confs), np.concatenate(oks))
    metrics.source = {"raster": str(raster), "labels": str(labels), "checkpoint": str(checkpoint),
                      **({"cloud_mask": str(cloud_mask)} if cloud_mask else {})}
    return metrics


def load_metrics(path: Path) -> Metrics:
    return Metrics.model_validate(json.loads(Path(path).read_text()))
