"""The ``stats`` service: the share of valid pixels of one NDVI tile above a threshold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def run(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    """The tile is opened as every raster another party hands over is: a GeoTIFF file whose
    header declares no block or band count past the bounds (:func:`~eotrust.limits.check_raster_layout`:
    a 396-byte header can declare one block of 2 GB); a RasterError fails the step in one line."""
    import rasterio
    from rasterio.errors import RasterioError

    from eotrust.errors import RasterError
    from eotrust.limits import check_raster_layout, file_problem

    threshold = float(params.get("threshold", 0.3))
    tile = Path(inputs["tile"])
    if problem := file_problem(tile):
        raise RasterError(f"tile {tile} {problem}", hint="give a GeoTIFF file")
    try:
        src = rasterio.open(tile, driver="GTiff")  # a GeoTIFF only: a VRT names other files
    except RasterioError as exc:
        raise RasterError(f"{tile} is not a readable GeoTIFF ({str(exc).splitlines()[0]})") from None
    with src:
        check_raster_layout(src, tile)
        values = src.read(masked=True).astype("float64")
    valid = values.compressed()
    above = int((valid > threshold).sum())
    result = {
        "tile": Path(inputs["tile"]).name,
        "threshold": threshold,
        "pixels": int(valid.size),
        "above": above,
        "share_above": above / valid.size if valid.size else 0.0,
        "mean": float(valid.mean()) if valid.size else float("nan"),
    }
    Path(outputs["stats"]).write_text(json.dumps(result, indent=2) + "\n")
