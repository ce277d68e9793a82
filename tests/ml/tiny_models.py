"""Small model packages for the model tests (exported with the fast TorchScript exporter)."""

from __future__ import annotations

from pathlib import Path

import torch
from eth_account import Account
from torch import nn

from eotrust.ml.models.enet import ENet
from eotrust.ml.onnx_export import package_model

OWNER = Account.from_key("0x" + "a1" * 32)
CLASSES = ["water", "forest", "field", "town"]


def tiny_enet_package(dest: Path, account=OWNER, bands: int = 3, **overrides) -> Path:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = ENet(bands, len(CLASSES), widths=(16, 32, 64), stage1_repeats=1, encoder_stages=1)
    args = {
        "name": "tiny",
        "algorithm": "enet",
        "classes": CLASSES,
        "bands": ["red", "green", "blue", "nir", "swir"][:bands],
        "spatial_multiple": 8,
        "tile_size": 64,
        "normalisation": {"mean": [100.0], "std": [50.0]},
        "created": "2024-05-01T12:00:00Z",
        "metrics": {"pixel_accuracy": 0.5, "miou": 0.25},
        "method": "torchscript",
        "lineage": {"training_data": ["QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"]},
    }
    args.update(overrides)
    return package_model(model, account, dest, **args)


def repackaged(package: Path, dest: Path, account=OWNER, **manifest_changes) -> Path:  # type: ignore[no-untyped-def]
    """Another signed package of the same ONNX graph with some manifest fields changed (e.g.
    ``created``): a distinct package (another CID) without exporting the model again."""
    from eotrust.ml.package import Manifest, pack, read_package

    old = read_package(package)
    manifest = Manifest.model_validate({**old.manifest.model_dump(), **manifest_changes})
    return pack(manifest, old.graph_bytes, account, dest)


class PixelSeries(nn.Module):
    """A per-pixel temporal classifier: (N, C, T) -> (N, K) logits."""

    def __init__(self, c: int, t: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c, 8, 3, padding=1)
        self.head = nn.Linear(8, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=-1))


def tiny_series_package(dest: Path, *, channels: int = 1, timesteps: int = 68, account=OWNER) -> Path:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    layout = "NT" if channels == 1 else "NCT"
    model = PixelSeries(channels, timesteps, 3)
    if layout == "NT":
        inner = model
        model = nn.Sequential(_Unsqueeze(), inner)
    bands = [f"c{c}@t{t:02d}" for t in range(timesteps) for c in range(channels)]  # date-major
    return package_model(
        model,
        account,
        dest,
        name="series",
        algorithm="conv1d",
        classes=["forest", "grass", "other"],
        bands=bands,
        layout=layout,
        timesteps=timesteps,
        normalisation={"mean": [0.5], "std": [0.25]},
        tile_size=32,
        created="2024-05-01T12:00:00Z",
        method="torchscript",
    )


class _Unsqueeze(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)
