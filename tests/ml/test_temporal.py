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


def test_time_encoding_needs_the_dates_and_uses_them() -> None:
    with pytest.raises(ValueError, match="days_of_year"):
        TemporalCNN(1, 3, hidden=8, time_encoding="doy")
    torch.manual_seed(0)
    days = [float(d) for d in range(10, 370, 36)]  # 10 dates through a year
    model = TemporalCNN(1, 3, hidden=8, time_encoding="doy", days_of_year=days).eval()
    x = torch.randn(4, 1, 10)
    same = model(x)
    assert torch.equal(same, model(x, torch.tensor(days)))
    # the same values seen half a year later are another input: the dates matter
    assert not torch.allclose(same, model(x, torch.tensor(days) + 182.0))
    # a shorter series (one season of the archive) must say when it was observed
    with pytest.raises(ValueError, match="days of year"):
        model(x[..., :4])
    assert model(x[..., :4], torch.tensor(days[:4])).shape == (4, 3)


def test_an_ensemble_predicts_the_mean_of_its_members() -> None:
    torch.manual_seed(0)
    model = TemporalCNN(2, 4, hidden=8, members=3).eval()
    x = torch.randn(6, 2, 12)
    members = model.member_logits(x)
    assert members.shape == (3, 6, 4)
    assert not torch.allclose(members[0], members[1])  # independently initialised
    mean = torch.softmax(members, dim=2).mean(dim=0)
    assert torch.allclose(torch.softmax(model(x), dim=1), mean, atol=1e-6)
    with pytest.raises(ValueError):
        TemporalCNNConfig(members=0)
