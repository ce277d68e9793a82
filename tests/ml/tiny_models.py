"""Small model packages for the model tests (exported with the fast TorchScript exporter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict, Unpack

import torch
from eth_account import Account
from eth_account.signers.local import LocalAccount
from torch import nn

from eotrust.ml.models.enet import ENet
from eotrust.ml.onnx_export import Layout, Method, package_model

OWNER = Account.from_key("0x" + "a1" * 32)
CLASSES = ["water", "forest", "field", "town"]


class PackageOptions(TypedDict, total=False):
    """The keyword arguments of ``package_model`` but ``bands`` (a test overrides any of them)."""

    name: str
    algorithm: str
    classes: list[str]
    layout: Layout
    timesteps: int | None
    colours: list[str] | None
    class_codes: list[int] | None
    normalisation: dict[str, list[float]] | None
    tile_size: int | None
    spatial_multiple: int
    metrics: dict[str, Any] | None
    training_params: dict[str, Any] | None
    lineage: dict[str, Any] | None
    description: str
    created: str | None
    method: Method
    preprocessing: dict[str, Any] | None


def tiny_enet_package(
    dest: Path, account: LocalAccount = OWNER, bands: int = 3, **overrides: Unpack[PackageOptions]
) -> Path:
    torch.manual_seed(0)
    model = ENet(bands, len(CLASSES), widths=(16, 32, 64), stage1_repeats=1, encoder_stages=1)
    args: PackageOptions = {
        "name": "tiny",
        "algorithm": "enet",
        "classes": CLASSES,
        "spatial_multiple": 8,
        "tile_size": 64,
        "normalisation": {"mean": [100.0], "std": [50.0]},
        "created": "2024-05-01T12:00:00Z",
        "metrics": {"pixel_accuracy": 0.5, "miou": 0.25},
        "method": "torchscript",
        "lineage": {"training_data": ["QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"]},
    }
    args.update(overrides)
    return package_model(model, account, dest, bands=["red", "green", "blue", "nir", "swir"][:bands], **args)


def repackaged(package: Path, dest: Path, account: LocalAccount = OWNER, **manifest_changes: object) -> Path:
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
        logits: torch.Tensor = self.head(torch.relu(self.conv(x)).mean(dim=-1))
        return logits


def tiny_series_package(dest: Path, *, channels: int = 1, timesteps: int = 68, account: LocalAccount = OWNER) -> Path:
    torch.manual_seed(0)
    layout: Layout = "NT" if channels == 1 else "NCT"
    model: nn.Module = PixelSeries(channels, timesteps, 3)
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
