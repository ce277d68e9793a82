"""The generic trainer: any architecture of :mod:`eotrust.ml.models`, configured by a
model-definition file, on a training-dataset archive.

- class weighting for imbalance (inverse or square-root inverse frequency);
- early stopping on the validation split's mean IoU, restoring the best epoch's weights;
- deterministic seeding: the same data and seed give the same weights on CPU;
- CUDA when present (or as asked), rich progress or one log line per epoch;
- a checkpoint (:mod:`eotrust.ml.checkpoint`) that the model-package code exports to ONNX.

Checkpoint format (``torch.save`` of a dict, read back by :func:`eotrust.ml.checkpoint.load_checkpoint`)::

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

from eotrust.eo.classmap import colour_of
from eotrust.eo.dataset import TrainingDataset
from eotrust.errors import ModelError
from eotrust.ml.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from eotrust.ml.data import TrainingData, load_training_data
from eotrust.ml.distributed import SINGLE, Ranks, all_sum, shard_indices, share_buffers, wrap
from eotrust.ml.inference import pick_device, predict_logits
from eotrust.ml.metrics import confusion_matrix, metrics_from_confusion
from eotrust.ml.modeldef import ModelDef
from eotrust.ml.models import build_model
from eotrust.ml.models.base import Network

# load_checkpoint and CHECKPOINT_FORMAT live in eotrust.ml.checkpoint; named here for the callers
# that still import them from the trainer
__all__ = [
    "CHECKPOINT_FORMAT",
    "EpochRecord",
    "TrainResult",
    "class_weights",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "train",
]


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


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def class_weights(y: np.ndarray, k: int, how: str) -> torch.Tensor:
    counts = np.bincount(y[y >= 0], minlength=k).astype(np.float64)
    if how == "none":
        return torch.ones(k)
    w = counts.sum() / (k * np.maximum(counts, 1))
    if how == "sqrt_inverse":
        w = np.sqrt(w)
    w[counts == 0] = 0.0
    return torch.tensor(w / max(w[counts > 0].mean(), 1e-12), dtype=torch.float32)


def _val_metrics(
    model: nn.Module, data: TrainingData, device: torch.device, classes: list[str], ranks: Ranks = SINGLE
) -> dict[str, Any] | None:
    """Validation metrics; with several ranks each scores its share of the val split and the
    confusion matrices are summed, so every rank gets the same numbers."""
    if len(data.y_val) == 0:
        return None
    x_val, y_val = data.x_val[ranks.rank :: ranks.world_size], data.y_val[ranks.rank :: ranks.world_size]
    if len(x_val):
        logits = predict_logits(model, x_val, device, batch=4096 if x_val.dim() == 3 else 16)
        pred = logits.argmax(1).numpy()
        truth = y_val.numpy()
        keep = truth >= 0
        cm = confusion_matrix(truth[keep], pred[keep], len(classes))
    else:  # more ranks than validation samples: this one scores none
        cm = np.zeros((len(classes), len(classes)), dtype=np.int64)
    cm = all_sum(torch.from_numpy(cm).to(device), ranks).cpu().numpy()
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
    ranks: Ranks = SINGLE,
) -> TrainResult:
    """Train ``model_def`` on ``dataset``'s train split, stop early on its val split, and
    write the best epoch's checkpoint to ``checkpoint`` (atomically).

    ``threads``: CPU threads for torch; by default 1 for pixel models, whose small
    convolutions gain nothing from intra-op threads and lose much when cores are shared.

    ``init_from``: a checkpoint to continue from (warm start, e.g. the previous round of active
    learning); it must have this definition's architecture, parameters, inputs and classes.

    ``ranks``: this process's rank among several in an open torch.distributed group
    (:mod:`eotrust.ml.launch` opens it). The model is wrapped in DistributedDataParallel; each
    epoch is one shuffled permutation split between the ranks (DistributedSampler) and the
    batch size is split too, so the global batch, the steps per epoch and the learning-rate
    schedule are those of one process. Validation is shared and summed; only rank 0 writes
    the checkpoint. The same seed and number of ranks give the same weights."""
    cfg = model_def.training
    dev = pick_device(device)
    kind = model_def.input_kind
    m = dataset.manifest
    classes = [c.name for c in m.classes]
    k = len(classes)
    gen = seed_everything(cfg.seed)  # the same initial weights on every rank
    # augmentation draws differ between ranks; the epoch's permutation is shared (shard_indices)
    aug_gen = torch.Generator().manual_seed(cfg.seed + 7919 * ranks.rank) if ranks.many else gen
    previous = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads or kind == "pixel":
        torch.set_num_threads(threads or 1)
    try:
        if kind == "pixel" and model_def.params.get("time_encoding") == "doy":
            from eotrust.eo.features import day_of_year

            model_def = model_def.model_copy(
                update={"params": {**model_def.params, "days_of_year": day_of_year(m.dates)}}
            )
        data = load_training_data(dataset, model_def)
        if len(data.y_train) == 0:
            raise ModelError(
                "the training split holds no labelled sample", hint="rebuild the dataset with other split fractions"
            )
        core = build_model(model_def.architecture, data.in_channels, k, model_def.params).to(dev)
        if init_from is not None:
            _warm_start(core, Path(init_from), model_def, classes, data.in_channels)
        model = wrap(core, ranks, dev)
        weights = class_weights(data.y_train.numpy().reshape(-1), k, cfg.class_weighting).to(dev)
        loss_fn = nn.CrossEntropyLoss(weight=weights, ignore_index=-1, label_smoothing=cfg.label_smoothing)
        n = len(data.y_train)
        per_rank = -(-n // ranks.world_size)
        bs = -(-min(cfg.batch_size, n) // ranks.world_size)
        steps = max(1, per_rank // bs)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.learning_rate, total_steps=cfg.epochs * steps)
        best_state, best_epoch, best_score, best_metrics = None, 0, -math.inf, None
        history: list[EpochRecord] = []
        bad = 0
        stopped = False
        seen = 0
        train_time = 0.0
        t_start = time.perf_counter()
        bar = _Progress(progress and ranks.leader, cfg.epochs, model_def.name)
        log = log if ranks.leader else None
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            perm = (
                shard_indices(n, ranks, seed=cfg.seed, epoch=epoch) if ranks.many else torch.randperm(n, generator=gen)
            )
            total = 0.0
            for s in range(steps):
                idx = perm[s * bs : (s + 1) * bs] if s < steps - 1 else perm[s * bs :]
                if len(idx) < 2:
                    continue
                xb, yb = data.x_train[idx], data.y_train[idx]
                xb, dates = _augment(xb, kind, cfg.temporal_crop, aug_gen)
                if kind == "pixel":
                    xb = _jitter(xb, cfg, aug_gen)
                if kind == "tile" and torch.rand(1, generator=aug_gen).item() < 0.5:
                    xb, yb = xb.flip(-1), yb.flip(-1)
                if kind == "tile" and torch.rand(1, generator=aug_gen).item() < 0.5:
                    xb, yb = xb.flip(-2), yb.flip(-2)
                xb, yb = xb.to(dev), yb.to(dev)
                opt.zero_grad(set_to_none=True)
                loss = _loss(model, core, loss_fn, xb, yb, dates)
                loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
            train_time += time.perf_counter() - t0
            if ranks.many:
                total = float(all_sum(torch.tensor([total], dtype=torch.float64), ranks)[0])
                share_buffers(core, ranks)
            val = _val_metrics(core, data, dev, classes, ranks)
            score = val["mean_iou"] if val else -total
            rec = EpochRecord(
                epoch,
                total / n,
                val["pixel_accuracy"] if val else None,
                val["mean_iou"] if val else None,
                time.perf_counter() - t0,
            )
            history.append(rec)
            improved = score > best_score + 1e-9
            if improved:
                best_state, best_epoch, best_score, best_metrics = copy.deepcopy(core.state_dict()), epoch, score, val
                bad = 0
            else:
                bad += 1
            line = (
                f"epoch {epoch}/{cfg.epochs} loss {rec.loss:.4f}"
                + (f" val acc {rec.val_accuracy:.3f} mIoU {rec.val_miou:.3f}" if val else "")
                + (" *" if improved else "")
            )
            bar.advance(line)
            if log:
                log(line)
            if cfg.patience and val and bad >= cfg.patience:
                stopped = True
                break
        bar.close()
        assert best_state is not None
        core.load_state_dict(best_state)
        seconds = time.perf_counter() - t_start
        seen = int(all_sum(torch.tensor([seen], dtype=torch.int64), ranks)[0])
        result = TrainResult(
            checkpoint=Path(checkpoint),
            epochs_run=len(history),
            best_epoch=best_epoch,
            stopped_early=stopped,
            train_samples=n,
            val_samples=len(data.y_val),
            seconds=seconds,
            samples_per_second=seen / max(train_time, 1e-9),
            device=str(dev) + (f" × {ranks.world_size} ranks" if ranks.many else ""),
            val_metrics=best_metrics or {},
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
            "train_params": {
                **cfg.model_dump(),
                "epochs_run": len(history),
                "best_epoch": best_epoch,
                "stopped_early": stopped,
                "train_samples": n,
                "val_samples": len(data.y_val),
                **({"ranks": ranks.world_size} if ranks.many else {}),
            },
            "dataset_cid": dataset_cid,
            "dataset_sources": dict(m.sources),
            "continued_from": str(init_from) if init_from is not None else None,
            "preprocessing": dict(m.preprocessing or {}),
        }
        if ranks.leader:
            save_checkpoint(checkpoint, core, meta)
        return result
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(previous_threads)


def _loss(
    model: nn.Module, core: Network, loss_fn: nn.Module, xb: torch.Tensor, yb: torch.Tensor, dates: slice | None
) -> torch.Tensor:
    """The batch loss; a deep ensemble (``members > 1``) trains every member on its own loss,
    summed, so the members stay independent rather than fitting their average. A time-encoded
    model given a run of its dates (``dates``) is told their days of year."""
    # ``model`` runs the batch (under DDP, the wrapper that synchronises gradients); ``core`` is
    # the network itself, whose attributes say how to call it
    time_encoded = dates is not None and core.time_encoded
    kw = {"days": core.get_buffer("days")[dates]} if time_encoded else {}
    if core.members > 1:
        if model is not core:
            raise ModelError("an ensemble (members > 1) trains in one process", hint="use --workers 1")
        losses: list[torch.Tensor] = [loss_fn(logits, yb) for logits in core.member_logits(xb, **kw)]
        total = losses[0]
        for more in losses[1:]:
            total = total + more
        return total
    loss: torch.Tensor = loss_fn(model(xb, **kw), yb)
    return loss


def _warm_start(model: nn.Module, path: Path, model_def: ModelDef, classes: list[str], in_channels: int) -> None:
    _, meta = load_checkpoint(path)
    theirs = (meta["architecture"], meta["model_def"]["params"], list(meta["classes"]), int(meta["in_channels"]))
    ours = (model_def.architecture, model_def.params, classes, in_channels)
    if theirs != ours:
        what = ["architecture", "parameters", "classes", "input channels"][
            next(i for i in range(4) if theirs[i] != ours[i])
        ]
        raise ModelError(
            f"cannot continue from {path}: its {what} differ ({theirs} vs {ours})",
            hint="continue from a model of the same definition and classes, or train from scratch",
        )
    data = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(data["state_dict"])


def _augment(
    xb: torch.Tensor, kind: str, crop: float | None, gen: torch.Generator
) -> tuple[torch.Tensor, slice | None]:
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
    return xb[..., start : start + length], slice(start, start + length)


def _jitter(xb: torch.Tensor, cfg: Any, gen: torch.Generator) -> torch.Tensor:
    """Pixel models (normalised series ``(N, C, T)``): a random offset and scale per sample
    (another place, another year: the same season a little brighter or duller), noise on every
    value, and dates blanked to the mean (what a never-observed value becomes)."""
    n = xb.shape[0]
    if cfg.offset_jitter:
        xb = xb + cfg.offset_jitter * torch.randn(n, 1, 1, generator=gen)
    if cfg.scale_jitter:
        xb = xb * (1 + cfg.scale_jitter * torch.randn(n, 1, 1, generator=gen))
    if cfg.noise:
        xb = xb + cfg.noise * torch.randn(xb.shape, generator=gen)
    if cfg.date_dropout:
        xb = xb * (torch.rand(n, 1, xb.shape[-1], generator=gen) >= cfg.date_dropout).to(xb.dtype)
    return xb


class _Progress:
    """A rich progress bar over epochs (when asked), closed cleanly."""

    def __init__(self, enabled: bool, total: int, name: str) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("[bold]training {task.fields[name]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
            )
            self.bar.start()
            self.task = self.bar.add_task("", total=total, name=name)

    def advance(self, line: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=line.split(" ", 2)[-1])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
