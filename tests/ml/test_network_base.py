"""Every architecture is a :class:`Network`: the trainer and the predictor read what it
declares (``time_encoded``, ``members``, ``member_logits``) instead of probing for it."""

from __future__ import annotations

import pytest
import torch

from eotrust.errors import ModelError
from eotrust.ml.models import ARCHITECTURES, Architecture, build_model
from eotrust.ml.models.base import Network


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_is_a_network(name: str) -> None:
    assert issubclass(ARCHITECTURES[name].load(), Network)


def test_an_architecture_that_is_not_a_network_is_refused() -> None:
    with pytest.raises(ModelError, match="not an eotrust Network"):
        Architecture("collections", "OrderedDict", None, "pixel").load()
    with pytest.raises(ModelError, match="not an eotrust Network"):
        Architecture("torch.nn", "Linear", None, "pixel").load()  # a torch module, but not ours


def test_one_network_gives_its_own_logits_as_its_one_member() -> None:
    torch.manual_seed(0)
    enet = build_model("enet", 3, 4, {"widths": [8, 16, 16], "stage1_repeats": 1, "encoder_stages": 1}).eval()
    assert (enet.time_encoded, enet.members) == (False, 1)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        members = enet.member_logits(x)
        assert members.shape == (1, 2, 4, 16, 16)
        assert torch.equal(members[0], enet(x))


def test_an_ensemble_gives_each_members_logits() -> None:
    torch.manual_seed(0)
    net = build_model("temporal_cnn", 1, 3, {"hidden": 8, "layers": 2, "members": 3}).eval()
    assert net.members == 3
    with torch.no_grad():
        members = net.member_logits(torch.randn(5, 1, 12))
    assert members.shape == (3, 5, 3)
    assert not torch.equal(members[0], members[1])  # independently initialised
