"""GeoTIFFs that declare much and hold nothing: a few hundred bytes on disk whose header names a
huge scene, huge blocks or many bands (the attack tests' bombs)."""

from __future__ import annotations

from pathlib import Path

import rasterio
from affine import Affine

ORIGIN = Affine(10, 0, 465000, 0, -10, 5080000)


def sparse_raster(path: Path, width: int, height: int, *, block: int, count: int = 1, **extra: object) -> Path:
    """A GeoTIFF that declares ``width`` x ``height`` px and holds no block at all (sparse)."""
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": ORIGIN,
        "nodata": 0,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "deflate",
        "sparse_ok": True,
        "bigtiff": "yes",
        **extra,
    }
    with rasterio.open(path, "w", **profile):
        pass
    return path
