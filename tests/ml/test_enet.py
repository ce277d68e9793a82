"""ENet: the shape contract, the parameter budget, and a rebuild from its model_def."""

from __future__ import annotations

import pytest
import torch

from eotrust.ml.models.enet import SPATIAL_MULTIPLE, ENet, count_parameters


@pytest.mark.parametrize("bands", [3, 13])
def test_output_shape_and_budget(bands: int) -> None:
    model = ENet(bands, 13).eval()
    assert 200_000 <= count_parameters(model) <= 400_000
    with torch.no_grad():
        out = model(torch.randn(2, bands, 64, 96))
    assert out.shape == (2, 13, 64, 96)


def test_any_multiple_of_eight_works() -> None:
    model = ENet(4, 5, widths=(16, 32, 64)).eval()
    for h, w in [(SPATIAL_MULTIPLE, SPATIAL_MULTIPLE), (40, 24), (128, 72)]:
        with torch.no_grad():
            assert model(torch.zeros(1, 4, h, w)).shape == (1, 5, h, w)


def test_model_def_rebuilds_the_same_network() -> None:
    model = ENet(6, 7, widths=(16, 32, 64), stage1_repeats=2, encoder_stages=1, activation="prelu")
    clone = ENet(**model.model_def())
    clone.load_state_dict(model.state_dict())
    model.eval(), clone.eval()
    x = torch.randn(1, 6, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), clone(x))


def test_trains_one_step() -> None:
    model = ENet(3, 4, widths=(16, 32, 64))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(2, 3, 32, 32), torch.randint(0, 4, (2, 32, 32))
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward is unannotated
    opt.step()
    assert torch.isfinite(loss)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ENet(0, 3)
    with pytest.raises(ValueError):
        ENet(3, 3, activation="tanh")
