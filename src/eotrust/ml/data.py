"""What a model reads: the training dataset's splits as normalised tensors, and the
normalisation and padding every stage (training, evaluation, prediction) applies the same way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from eotrust.eo.dataset import TrainingDataset
from eotrust.ml.modeldef import ModelDef


def normalise_series(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``x`` (N, C, T) standardised per channel; never-observed values (NaN) become 0, the mean."""
    out: np.ndarray = (x - mean[None, :, None]) / std[None, :, None]
    normalised: np.ndarray = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)
    return normalised


def normalise_tiles(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``x`` (N, C, H, W) standardised per channel; NaN → 0."""
    out: np.ndarray = (x - mean[None, :, None, None]) / std[None, :, None, None]
    normalised: np.ndarray = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)
    return normalised


def pad_to(x: np.ndarray, y: np.ndarray, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """Tiles ``x`` (N, C, H, W) and labels ``y`` (N, H, W) padded to a multiple of ``multiple``
    (labels with -1, ignored by the loss and the metrics)."""
    s = x.shape[-1]
    p = (-s) % multiple
    if not p:
        return x, y
    x = np.pad(x, ((0, 0), (0, 0), (0, p), (0, p)))
    y = np.pad(y, ((0, 0), (0, p), (0, p)), constant_values=-1)
    return x, y


@dataclass
class TrainingData:
    """A training set's train and val splits as normalised tensors, and what normalised them."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    in_channels: int
    mean: np.ndarray
    std: np.ndarray
    channel_names: list[str]


def load_training_data(dataset: TrainingDataset, model_def: ModelDef) -> TrainingData:
    """The train and val splits of ``dataset`` as ``model_def``'s input kind takes them."""
    m = dataset.manifest
    bmean, bstd = np.asarray(m.normalisation.mean), np.asarray(m.normalisation.std)
    cfg = model_def.training
    if model_def.input_kind == "pixel":
        xt, yt = dataset.pixels("train", max_samples=cfg.max_train_samples, seed=cfg.seed)
        xv, yv = dataset.pixels("val", max_samples=cfg.max_train_samples, seed=cfg.seed + 1)
        xt, xv = normalise_series(xt, bmean, bstd), normalise_series(xv, bmean, bstd)
        return TrainingData(
            torch.from_numpy(xt),
            torch.from_numpy(yt),
            torch.from_numpy(xv),
            torch.from_numpy(yv),
            len(m.bands),
            bmean,
            bstd,
            list(m.bands),
        )
    t, b = len(m.dates), len(m.bands)
    cmean, cstd = np.tile(bmean, t), np.tile(bstd, t)
    from eotrust.ml.models.enet import SPATIAL_MULTIPLE

    xt, yt = dataset.tiles("train")
    xv, yv = dataset.tiles("val")
    xt, yt = pad_to(normalise_tiles(xt, cmean, cstd), yt, SPATIAL_MULTIPLE)
    xv, yv = pad_to(normalise_tiles(xv, cmean, cstd), yv, SPATIAL_MULTIPLE)
    names = [f"{band}@{d}" for d in m.dates for band in m.bands]
    return TrainingData(
        torch.from_numpy(xt),
        torch.from_numpy(yt),
        torch.from_numpy(xv),
        torch.from_numpy(yv),
        t * b,
        cmean,
        cstd,
        names,
    )
