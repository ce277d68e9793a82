"""A small land-cover world shared by the ML tests: the real Slovenian sample prepared, cut
into a dataset and a model trained for two epochs — built once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
SLOVENIA = DATA / "slovenia-s2-ndvi"
LANDSAT = DATA / "landsat-rgb" / "RGB.byte.tif"


@dataclass(frozen=True)
class World:
    root: Path
    cube: Path
    labels: Path
    dataset: Path
    model: Path


def raw_inputs() -> dict[str, Path]:
    return {"ndvi": SLOVENIA / "ndvi.tif", "cloud_mask": SLOVENIA / "cloud_mask.tif", "lulc": SLOVENIA / "lulc.tif"}


@lru_cache(maxsize=1)
def world() -> World:
    """Built once per test session, shared by its test processes (tests/session_shared.py)."""
    from session_shared import built_once

    from eotrust.ml import landcover

    def build(root: Path) -> None:
        cube, labels, dataset, model = (root / n for n in ("cube.tif", "labels.tif", "dataset.zip", "model.pt"))
        landcover.prepare(raw_inputs(), {"cube": cube, "labels": labels}, {})
        landcover.dataset({"cube": cube, "labels": labels}, {"dataset": dataset}, {"tile_size": 10})
        landcover.train({"dataset": dataset}, {"model": model}, {"quick": True, "epochs": 2})

    root = built_once("landcover-world", build)
    return World(root, root / "cube.tif", root / "labels.tif", root / "dataset.zip", root / "model.pt")
