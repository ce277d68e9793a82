from __future__ import annotations

import pytest
import torch

from eotrust.ml.models import build_model
from eotrust.ml.models.temporal import TemporalCNN, TemporalCNNConfig


@pytest.mark.parametrize("pooling", ["avgmax", "avg", "max", "attention"])
def test_classifies_series_of_any_length(pooling: str) -> None:
    torch.manual_seed(0)
    model = TemporalCNN(3, 5, hidden=16, layers=2, pooling=pooling).eval()
    for t in (68, 20, 1):
        assert model(torch.randn(7, 3, t)).shape == (7, 5)


def test_small_enough_for_two_cores() -> None:
    model = build_model("temporal_cnn", 1, 4, TemporalCNNConfig().model_dump())
    n = sum(p.numel() for p in model.parameters())
    assert 10_000 < n < 100_000


def test_bad_hyper_parameters() -> None:
    with pytest.raises(ValueError, match="odd"):
        TemporalCNNConfig(kernel_size=4)
    with pytest.raises(ValueError):
        TemporalCNN(1, 4, hidden=2)
