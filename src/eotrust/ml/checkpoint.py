"""The trainer's checkpoint: ``torch.save`` of a dict (see :mod:`eotrust.ml.train` for its
fields) with the weights under ``state_dict``; read back into a model in eval mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from eotrust.eo.raster import atomic_path
from eotrust.errors import ModelError
from eotrust.limits import file_problem
from eotrust.ml.modeldef import parse_model_def
from eotrust.ml.models import architecture, build_model
from eotrust.ml.models.base import Network

CHECKPOINT_FORMAT = "eotrust-checkpoint/1"


def save_checkpoint(path: Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write ``meta`` plus the model's weights, atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({**meta, "state_dict": state}, tmp)
    return Path(path)


def load_checkpoint(path: Path, *, device: str | None = "cpu") -> tuple[Network, dict[str, Any]]:
    """``(model in eval mode, meta)`` of a checkpoint written by :func:`train`."""
    path = Path(path)
    if problem := file_problem(path):  # missing, a folder, a device
        raise ModelError(f"checkpoint {path} {problem}", hint="give a file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ModelError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
            hint="train one with eotrust train",
        ) from None
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
