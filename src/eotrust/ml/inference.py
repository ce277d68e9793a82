"""Running a loaded model: the device it runs on and batched logits without gradients."""

from __future__ import annotations

import torch
from torch import nn

from eotrust.errors import ModelError


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when present, else CPU."""
    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"device {device} asked for but CUDA is not available", hint="use --device cpu")
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def predict_logits(model: nn.Module, x: torch.Tensor, device: torch.device, batch: int = 4096) -> torch.Tensor:
    """The model's logits for ``x``, ``batch`` samples at a time, on the CPU."""
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(model(x[i : i + batch].to(device)).float().cpu())
    return torch.cat(outs) if outs else torch.zeros(0)
