"""Evaluation: pixel accuracy, per-class precision/recall/F1/IoU, mean IoU over the classes
present in the reference, the confusion matrix, and the majority-class baseline beside them
(:mod:`eotrust.ml.metrics`) — written as JSON and as a PNG figure.

:func:`evaluate_dataset` scores a split of a training dataset (the held-out blocks);
:func:`evaluate_raster` scores a checkpoint on any raster laid out like the shared data (a
time series GeoTIFF, optionally its cloud mask) against any label raster on the same grid,
window by window. Reference classes the model does not know still count: their pixels are
errors, and they appear in the matrix as rows the model never predicts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eotrust.errors import InvalidInputError
from eotrust.ml.metrics import Metrics, confusion_matrix, metrics_from_confusion
from eotrust.ml.uncertainty import calibration


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


def evaluate_dataset(
    checkpoint: Path, dataset_path: Path, *, split: str = "test", device: str | None = None
) -> Metrics:
    """Score a checkpoint on one split of a training dataset (by default the test blocks)."""
    import torch

    from eotrust.eo.dataset import TrainingDataset
    from eotrust.ml.checkpoint import load_checkpoint
    from eotrust.ml.data import normalise_series, normalise_tiles, pad_to
    from eotrust.ml.inference import pick_device, predict_logits

    dev = pick_device(device)
    model, meta = load_checkpoint(checkpoint, device=str(dev))
    with TrainingDataset(dataset_path) as ds:
        m = ds.manifest
        if [c.name for c in m.classes] != list(meta["classes"]):
            raise InvalidInputError(
                f"the dataset's classes {[c.name for c in m.classes]} are not the model's {meta['classes']}"
            )
        mean, std = np.asarray(meta["normalisation"]["mean"]), np.asarray(meta["normalisation"]["std"])
        if meta["input_kind"] == "pixel":
            x, y = ds.pixels(split)
            if len(y) == 0:
                raise InvalidInputError(f"the {split} split of {dataset_path} holds no labelled pixel")
            proba = torch.softmax(
                predict_logits(model, torch.from_numpy(normalise_series(x, mean, std)), dev), 1
            ).numpy()
            pred, conf = proba.argmax(1), proba.max(1)
            truth = y
        else:
            from eotrust.ml.models.enet import SPATIAL_MULTIPLE

            x, y = ds.tiles(split)
            if len(y) == 0:
                raise InvalidInputError(f"the {split} split of {dataset_path} holds no tile")
            xp, yp = pad_to(normalise_tiles(x, mean, std), y, SPATIAL_MULTIPLE)
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


def evaluate_raster(
    checkpoint: Path,
    raster: Path,
    labels: Path,
    *,
    cloud_mask: Path | None = None,
    band: str | None = None,
    device: str | None = None,
    block: int | None = None,
) -> Metrics:
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
    metrics.source = {
        "raster": str(raster),
        "labels": str(labels),
        "checkpoint": str(checkpoint),
        **({"cloud_mask": str(cloud_mask)} if cloud_mask else {}),
    }
    return metrics
