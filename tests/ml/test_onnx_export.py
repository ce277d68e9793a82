"""PyTorch -> ONNX: the graph matches PyTorch numerically, at other batch and spatial sizes too."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from eotrust.errors import ModelError
from eotrust.ml.models.enet import ENet
from eotrust.ml.onnx_export import export_checked, export_onnx, max_difference


def small_enet() -> ENet:
    torch.manual_seed(1)
    return ENet(5, 6, widths=(16, 32, 64), stage1_repeats=1, encoder_stages=1).eval()


@pytest.mark.slow
def test_dynamo_export_of_enet_is_dynamic_and_exact() -> None:
    model = small_enet()
    graph = export_checked(
        model,
        torch.randn(1, 5, 64, 64),
        layout="NCHW",
        method="dynamo",
        spatial_multiple=8,
        checks=[np.random.default_rng(0).normal(size=(3, 5, 48, 80)).astype(np.float32)],
    )
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape
    assert shape[1] == 5 and all(isinstance(shape[i], str) for i in (0, 2, 3))  # batch, H, W dynamic
    assert max_difference(model, graph, np.ones((2, 5, 24, 40), np.float32)) < 1e-4


def test_torchscript_export_is_deterministic() -> None:
    model = small_enet()
    a = export_onnx(model, torch.randn(1, 5, 32, 32), layout="NCHW", method="torchscript")
    b = export_onnx(model, torch.randn(1, 5, 32, 32), layout="NCHW", method="torchscript")
    assert a == b
    assert max_difference(model, a, np.random.default_rng(2).normal(size=(4, 5, 16, 56)).astype(np.float32)) < 1e-4


class PixelSeries(nn.Module):
    """A per-pixel temporal classifier: (N, C, T) -> (N, K)."""

    def __init__(self, c: int = 2, t: int = 12, k: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c, 8, 3, padding=1)
        self.head = nn.Linear(8, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(torch.relu(self.conv(x)).mean(dim=-1))
        return logits


def test_pixel_series_model_has_dynamic_batch() -> None:
    torch.manual_seed(0)
    model = PixelSeries().eval()
    graph = export_checked(
        model,
        torch.randn(4, 2, 12),
        layout="NCT",
        method="torchscript",
        checks=[np.random.default_rng(3).normal(size=(1000, 2, 12)).astype(np.float32)],
    )
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": np.zeros((7, 2, 12), np.float32)})[0].shape == (7, 3)


class DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow
            return x * 2
        return x.nonzero().float()


def test_unexportable_model_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="differs from PyTorch|could not be exported"):
        export_checked(
            DataDependent(),
            torch.ones(1, 2, 8, 8),
            layout="NCHW",
            method="torchscript",
            checks=[-np.ones((1, 2, 8, 8), np.float32)],
        )
