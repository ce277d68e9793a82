"""PyTorch model definitions and the architecture lookup the generic trainer uses.

Each architecture names its module, class, hyper-parameter model (validated when a
model-definition file is read) and input kind: ``pixel`` models classify one pixel's time
series ``(N, C, T)``; ``tile`` models segment image tiles ``(N, C, H, W)``. Modules are
imported only when a model is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from eotrust.errors import ModelError, first_problem

if TYPE_CHECKING:
    from eotrust.ml.models.base import Network


@dataclass(frozen=True)
class Architecture:
    module: str
    cls: str
    config: str | None  # name of a pydantic model in the module validating the parameters
    input_kind: Literal["pixel", "tile"]

    def load(self) -> type[Network]:
        from eotrust.ml.models.base import Network

        cls = getattr(importlib.import_module(self.module), self.cls)
        if not (isinstance(cls, type) and issubclass(cls, Network)):
            raise ModelError(f"{self.module}.{self.cls} is not an eotrust Network")
        return cls

    def config_model(self) -> type[BaseModel] | None:
        return getattr(importlib.import_module(self.module), self.config) if self.config else None


ARCHITECTURES: dict[str, Architecture] = {
    "temporal_cnn": Architecture("eotrust.ml.models.temporal", "TemporalCNN", "TemporalCNNConfig", "pixel"),
    "enet": Architecture("eotrust.ml.models.enet", "ENet", None, "tile"),
}


def architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {name!r}", hint=f"use one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def build_model(name: str, in_channels: int, num_classes: int, params: dict[str, Any]) -> Network:
    """An untrained network of architecture ``name``."""
    cls = architecture(name).load()
    try:
        return cls(in_channels, num_classes, **params)
    except (TypeError, ValueError) as exc:
        detail = first_problem(exc) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
        raise ModelError(
            f"cannot build {name} with parameters {params}: {detail}",
            hint="fix the params section of the model definition",
        ) from None
