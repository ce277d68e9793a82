"""The generic trainer: any architecture of :mod:`eotrust.ml.models`, configured by a
model-definition file, on a training-dataset archive.

- class weighting for imbalance (inverse or square-root inverse frequency);
- early stopping on the validation split's mean IoU, restoring the best epoch's weights;
- deterministic seeding: the same data and seed give the same weights on CPU;
- CUDA when present (or as asked), rich progress or one log line per epoch;
- a checkpoint (see :func:`save_checkpoint`) that the model-package code exports to ONNX.

Checkpoint format (``torch.save`` of a dict, read back by :func:`load_checkpoint`)::

    format          "eotrust-checkpoint/1"
    model_def       the validated model definition (dict)
    state_dict      the best epoch's weights
    in_channels, num_classes
    input_kind      "pixel" (series (N, C, T), input_layout "NCT") or "tile" ((N, C, H, W), "NCHW")
    classes         class names, by output index;  class_codes: their label codes
    colours         "#rrggbb" per class
    bands           input channel names (pixel: the cube's bands; tile: BAND@DATE per channel)
    cube_bands, dates, timesteps, tile_size
    normalisation   {"mean": [...], "std": [...]} per input channel
    metrics         validation metrics of the best epoch
    train_params    the training settings, epochs run, best epoch, timings
    dataset_cid     CID of the training set (when known);  name, description
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eotrust.errors import ModelError
from eotrust.eo.dataset import TrainingDataset
from eotrust.eo.raster import atomic_path
from eotrust.ml.evaluate import confusion_matrix, metrics_from_confusion
from eotrust.ml.figures import colour_of
from eotrust.ml.modeldef import ModelDef, parse_model_def
from eotrust.ml.models import architecture, build_model

CHECKPOINT_FORMAT = "eotrust-checkpoint/1"


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    val_accuracy: float | None
    val_miou: float | None
    seconds: float


@dataclass
class TrainResult:
    checkpoint: Path
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    train_samples: int
    val_samples: int
    seconds: float
    samples_per_second: float
    device: str
    val_metrics: dict[str, Any] = field(default_factory=dict)
    history: list[EpochRecord] = field(default_factory=list)


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when present, else CPU."""
    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"device {device} asked for but CUDA is not available", hint="use --device cpu")
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def normalise_series(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``x`` (N, C, T) standardised per channel; never-observed values (NaN) become 0, the mean."""
    out = (x - mean[None, :, None]) / std[None, :, None]
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)


def normalise_tiles(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``x`` (N, C, H, W) standardised per channel; NaN → 0."""
    out = (x - mean[None, :, None, None]) / std[None, :, None, None]
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)


def class_weights(y: np.ndarray, k: int, how: str) -> torch.Tensor:
    counts = np.bincount(y[y >= 0], minlength=k).astype(np.float64)
    if how == "none":
        return torch.ones(k)
    w = counts.sum() / (k * np.maximum(counts, 1))
    if how == "sqrt_inverse":
        w = np.sqrt(w)
    w[counts == 0] = 0.0
    return torch.tensor(w / max(w[counts > 0].mean(), 1e-12), dtype=torch.float32)


def _pad_to(x: np.ndarray, y: np.ndarray, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    s = x.shape[-1]
    p = (-s) % multiple
    if not p:
        return x, y
    x = np.pad(x, ((0, 0), (0, 0), (0, p), (0, p)))
    y = np.pad(y, ((0, 0), (0, p), (0, p)), constant_values=-1)
    return x, y


@dataclass
class _Data:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    in_channels: int
    mean: np.ndarray
    std: np.ndarray
    channel_names: list[str]


def _load(dataset: TrainingDataset, model_def: ModelDef) -> _Data:
    m = dataset.manifest
    bmean, bstd = np.asarray(m.normalisation.mean), np.asarray(m.normalisation.std)
    cfg = model_def.training
    if model_def.input_kind == "pixel":
        xt, yt = dataset.pixels("train", max_samples=cfg.max_train_samples, seed=cfg.seed)
        xv, yv = dataset.pixels("val", max_samples=cfg.max_train_samples, seed=cfg.seed + 1)
        xt, xv = normalise_series(xt, bmean, bstd), normalise_series(xv, bmean, bstd)
        return _Data(torch.from_numpy(xt), torch.from_numpy(yt), torch.from_numpy(xv), torch.from_numpy(yv),
                     len(m.bands), bmean, bstd, list(m.bands))
    t, b = len(m.dates), len(m.bands)
    cmean, cstd = np.tile(bmean, t), np.tile(bstd, t)
    from eotrust.ml.models.enet import SPATIAL_MULTIPLE

    xt, yt = dataset.tiles("train")
    xv, yv = dataset.tiles("val")
    xt, yt = _pad_to(normalise_tiles(xt, cmean, cstd), yt, SPATIAL_MULTIPLE)
    xv, yv = _pad_to(normalise_tiles(xv, cmean, cstd), yv, SPATIAL_MULTIPLE)
    names = [f"{band}@{d}" for d in m.dates for band in m.bands]
    return _Data(torch.from_numpy(xt), torch.from_numpy(yt), torch.from_numpy(xv), torch.from_numpy(yv),
                 t * b, cmean, cstd, names)


def predict_logits(model: nn.Module, x: torch.Tensor, device: torch.device, batch: int = 4096) -> torch.Tensor:
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(model(x[i:i + batch].to(device)).float().cpu())
    return torch.cat(outs) if outs else torch.zeros(0)


def _val_metrics(model: nn.Module, data: _Data, device: torch.device, classes: list[str]) -> dict[str, Any] | None:
    if len(data.y_val) == 0:
        return None
    logits = predict_logits(model, data.x_val, device, batch=4096 if data.x_val.dim() == 3 else 16)
    pred = logits.argmax(1).numpy()
    truth = data.y_val.numpy()
    keep = truth >= 0
    cm = confusion_matrix(truth[keep], pred[keep], len(classes))
    return metrics_from_confusion(cm, classes).model_dump()


def train(
    dataset: TrainingDataset,
    model_def: ModelDef,
    checkpoint: Path,
    *,
    dataset_cid: str | None = None,
    device: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    threads: int | None = None,
    init_from: Path | None = None,
) -> TrainResult:
    """Train ``model_def`` on ``dataset``'s train split, stop early on its val split, and
    write the best epoch's checkpoint to ``checkpoint`` (atomically).

    ``threads``: CPU threads for torch; by default 1 for pixel models, whose small
    convolutions gain nothing from intra-op threads and lose much when cores are shared.

    ``init_from``: a checkpoint to continue from (warm start, e.g. the previous round of active
    learning); it must have this definition's architecture, parameters, inputs and classes."""
    cfg = model_def.training
    dev = pick_device(device)
    kind = model_def.input_kind
    m = dataset.manifest
    classes = [c.name for c in m.classes]
    k = len(classes)
    gen = seed_everything(cfg.seed)
    previous = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads or kind == "pixel":
        torch.set_num_threads(threads or 1)
    try:
        if kind == "pixel" and model_def.params.get("time_encoding") == "doy":
            from eotrust.eo.features import day_of_year

            model_def = model_def.model_copy(update={"params": {**model_def.params, "days_of_year": day_of_year(m.dates)}})
        data = _load(dataset, model_def)
        if len(data.y_train) == 0:
            raise ModelError("the training split holds no labelled sample", hint="rebuild the dataset with other split fractions")
        model = build_model(model_def.architecture, data.in_channels, k, model_def.params).to(dev)
        if init_from is not None:
            _warm_start(model, Path(init_from), model_def, classes, data.in_channels)
        weights = class_weights(data.y_train.numpy().reshape(-1), k, cfg.class_weighting).to(dev)
        loss_fn = nn.CrossEntropyLoss(weight=weights, ignore_index=-1, label_smoothing=cfg.label_smoothing)
        n = len(data.y_train)
        bs = min(cfg.batch_size, n)
        steps = max(1, n // bs)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.learning_rate, total_steps=cfg.epochs * steps)
        best_state, best_epoch, best_score, best_metrics = None, 0, -math.inf, None
        history: list[EpochRecord] = []
        bad = 0
        stopped = False
        seen = 0
        train_time = 0.0
        t_start = time.perf_counter()
        bar = _Progress(progress, cfg.epochs, model_def.name)
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for s in range(steps):
                idx = perm[s * bs:(s + 1) * bs] if s < steps - 1 else perm[s * bs:]
                if len(idx) < 2:
                    continue
                xb, yb = data.x_train[idx], data.y_train[idx]
                xb, dates = _augment(xb, kind, cfg.temporal_crop, gen)
                if kind == "tile" and torch.rand(1, generator=gen).item() < 0.5:
                    xb, yb = xb.flip(-1), yb.flip(-1)
                if kind == "tile" and torch.rand(1, generator=gen).item() < 0.5:
                    xb, yb = xb.flip(-2), yb.flip(-2)
                xb, yb = xb.to(dev), yb.to(dev)
                opt.zero_grad(set_to_none=True)
                loss = _loss(model, loss_fn, xb, yb, dates)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
            train_time += time.perf_counter() - t0
            val = _val_metrics(model, data, dev, classes)
            score = val["mean_iou"] if val else -total
            rec = EpochRecord(epoch, total / n, val["pixel_accuracy"] if val else None, val["mean_iou"] if val else None,
                              time.perf_counter() - t0)
            history.append(rec)
            improved = score > best_score + 1e-9
            if improved:
                best_state, best_epoch, best_score, best_metrics = copy.deepcopy(model.state_dict()), epoch, score, val
                bad = 0
            else:
                bad += 1
            line = (f"epoch {epoch}/{cfg.epochs} loss {rec.loss:.4f}"
                    + (f" val acc {rec.val_accuracy:.3f} mIoU {rec.val_miou:.3f}" if val else "")
                    + (" *" if improved else ""))
            bar.advance(line)
            if log:
                log(line)
            if cfg.patience and val and bad >= cfg.patience:
                stopped = True
                break
        bar.close()
        assert best_state is not None
        model.load_state_dict(best_state)
        seconds = time.perf_counter() - t_start
        result = TrainResult(
            checkpoint=Path(checkpoint), epochs_run=len(history), best_epoch=best_epoch, stopped_early=stopped,
            train_samples=n, val_samples=len(data.y_val), seconds=seconds,
            samples_per_second=seen / max(train_time, 1e-9), device=str(dev), val_metrics=best_metrics or {},
            history=history,
        )
        meta = {
            "format": CHECKPOINT_FORMAT,
            "name": model_def.name,
            "description": model_def.description,
            "model_def": model_def.model_dump(),
            "architecture": model_def.architecture,
            "in_channels": data.in_channels,
            "num_classes": k,
            "input_kind": kind,
            "input_layout": "NCT" if kind == "pixel" else "NCHW",
            "classes": classes,
            "class_codes": [c.code for c in m.classes],
            "colours": [colour_of(c.code, i) for i, c in enumerate(m.classes)],
            "bands": data.channel_names,
            "cube_bands": list(m.bands),
            "dates": list(m.dates),
            "timesteps": len(m.dates),
            "tile_size": m.tile_size,
            "normalisation": {"mean": [float(v) for v in data.mean], "std": [float(v) for v in data.std]},
            "band_normalisation": m.normalisation.model_dump(),
            "metrics": {"validation": best_metrics} if best_metrics else {},
            "train_params": {**cfg.model_dump(), "epochs_run": len(history), "best_epoch": best_epoch,
                             "stopped_early": stopped, "train_samples": n, "val_samples": len(data.y_val)},
            "dataset_cid": dataset_cid,
            "dataset_sources": dict(m.sources),
            "continued_from": str(init_from) if init_from is not None else None,
            "preprocessing": dict(m.preprocessing or {}),
        }
        save_checkpoint(checkpoint, model, meta)
        return result
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(previous_threads)


def _loss(model: nn.Module, loss_fn: nn.Module, xb: torch.Tensor, yb: torch.Tensor, dates: slice | None) -> torch.Tensor:
    """The batch loss; a deep ensemble (a model with ``member_logits``) trains every member on
    its own loss, summed, so the members stay independent rather than fitting their average.
    A time-encoded model given a run of its dates (``dates``) is told their days of year."""
    kw = {"days": model.days[dates]} if dates is not None and getattr(model, "time_encoded", False) else {}
    members = getattr(model, "member_logits", None)
    if members is not None and getattr(model, "members", 1) > 1:
        return sum(loss_fn(logits, yb) for logits in members(xb, **kw))  # type: ignore[return-value]
    return loss_fn(model(xb, **kw), yb)


def _warm_start(model: nn.Module, path: Path, model_def: ModelDef, classes: list[str], in_channels: int) -> None:
    _, meta = load_checkpoint(path)
    theirs = (meta["architecture"], meta["model_def"]["params"], list(meta["classes"]), int(meta["in_channels"]))
    ours = (model_def.architecture, model_def.params, classes, in_channels)
    if theirs != ours:
        what = ["architecture", "parameters", "classes", "input channels"][next(i for i in range(4) if theirs[i] != ours[i])]
        raise ModelError(f"cannot continue from {path}: its {what} differ ({theirs} vs {ours})",
                         hint="continue from a model of the same definition and classes, or train from scratch")
    data = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(data["state_dict"])


def _augment(xb: torch.Tensor, kind: str, crop: float | None, gen: torch.Generator) -> tuple[torch.Tensor, slice | None]:
    """Pixel models: a random run of consecutive dates (the same for the whole batch), so the
    network learns to classify shorter series too (one year of a longer archive); returns the
    batch and the run of dates it kept (None: all)."""
    if kind != "pixel" or not crop:
        return xb, None
    t = xb.shape[-1]
    lo = max(1, math.ceil(crop * t))
    if lo >= t:
        return xb, None
    length = int(torch.randint(lo, t + 1, (1,), generator=gen))
    start = int(torch.randint(0, t - length + 1, (1,), generator=gen))
    return xb[..., start:start + length], slice(start, start + length)


class _Progress:
    """A rich progress bar over epochs (when asked), closed cleanly."""

    def __init__(self, enabled: bool, total: int, name: str) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]training {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("{task.description}"))
            self.bar.start()
            self.task = self.bar.add_task("", total=total, name=name)

    def advance(self, line: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=line.split(" ", 2)[-1])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def save_checkpoint(path: Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``meta`` plus the model's weights, atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({**meta, "state_dict": state}, tmp)
    return Path(path)


def load_checkpoint(path: Path, *, device: str | None = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """``(model in eval mode, meta)`` of a checkpoint written by :func:`train`."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ModelError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                         hint="train one with eotrust train") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT or "state_dict" not in data:
        raise ModelError(f"{path} is not an eotrust checkpoint", hint="train one with eotrust train")
    model_def = parse_model_def(data["model_def"], source=f"model definition in {path}")
    model = build_model(model_def.architecture, int(data["in_channels"]), int(data["num_classes"]), model_def.params)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit the model definition ({str(exc).splitlines()[0]})") from None
    model.eval()
    if device:
        model.to(device)
    meta = {k: v for k, v in data.items() if k != "state_dict"}
    assert architecture(model_def.architecture).input_kind == meta["input_kind"]
    return model, meta
