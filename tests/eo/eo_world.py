"""Helpers of the EO and ML tests: the real sample's paths and small rasters made on the spot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine

DATA = Path(__file__).resolve().parents[1] / "data"
SLOVENIA = DATA / "slovenia-s2-ndvi"
LANDSAT = DATA / "landsat-rgb" / "RGB.byte.tif"


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:32633",
    transform: Affine = Affine(10, 0, 465000, 0, -10, 5080000),
    nodata: float | None = None,
    descriptions: list[str] | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """A small GeoTIFF (``data`` is (bands, rows, cols))."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": str(data.dtype),
        "transform": transform,
        "nodata": nodata,
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        for i, d in enumerate(descriptions or []):
            ds.set_band_description(i + 1, d)
        if tags:
            ds.update_tags(**tags)
    return path


def truncated_copy(src: Path, dest: Path, keep: float = 0.5) -> Path:
    """A GeoTIFF cut short, as a broken download leaves it."""
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


def write_polygons(path: Path, rings: list[np.ndarray], classes: list[int], **extra: Any) -> Path:
    """A GeoPackage (WGS 84) of one polygon per ring (lon, lat), its class in field ``class``."""
    import pyogrio
    import shapely

    pyogrio.raw.write(
        path,
        np.array(shapely.to_wkb([shapely.Polygon(r) for r in rings]), dtype=object),
        [np.array(classes, dtype=np.int32)],
        ["class"],
        driver="GPKG",
        geometry_type="Polygon",
        crs="EPSG:4326",
        **extra,
    )
    return path
