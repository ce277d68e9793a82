"""Attack: a tile handed to the ``stats`` step of the NDVI report example is a GeoTIFF whose
header declares one block of 45,056 x 45,056 px. The step reads it with the layout check every
other raster reader applies, and fails in one line (an EotrustError, which the workflow records
as the step's error) before a pixel is read.

Before: the step opened the tile with ``rasterio.open`` directly and decoded the block (2 GB,
then 16 GB as float64: a MemoryError traceback under a 3 GiB cap)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from bounded_child import bounded_child
from sparse_rasters import sparse_raster

from eotrust.examples.ndvi_report import stats


def test_a_block_bomb_tile_fails_the_step_in_one_line(tmp_path: Path) -> None:
    bomb = sparse_raster(tmp_path / "tile.tif", 45_056, 45_056, block=45_056, bigtiff="no")
    assert bomb.stat().st_size < 2_000
    out = tmp_path / "stats.json"
    code, _, stderr, peak_kib = bounded_child(
        "from pathlib import Path\n"
        "from eotrust.examples.ndvi_report import stats\n"
        f"stats.run({{'tile': Path({str(bomb)!r})}}, {{'stats': Path({str(out)!r})}}, {{}})\n"
    )
    assert code == 1 and "Traceback" not in stderr, stderr
    (line,) = [line for line in stderr.splitlines() if line.strip()]
    assert line.startswith("error:") and "blocks of 45,056 x 45,056 px" in line, line
    assert not out.exists() and 0 < peak_kib < 400_000


def test_a_plain_tile_is_still_counted(tmp_path: Path) -> None:
    tile = tmp_path / "tile.tif"
    values = np.array([[0.1, 0.5], [0.9, -1.0]], dtype=np.float32)
    profile = {"driver": "GTiff", "width": 2, "height": 2, "count": 1, "dtype": "float32", "nodata": -1.0}
    with rasterio.open(tile, "w", crs="EPSG:32633", transform=Affine(10, 0, 465000, 0, -10, 5080000), **profile) as ds:
        ds.write(values, 1)
    stats.run({"tile": tile}, {"stats": tmp_path / "stats.json"}, {"threshold": 0.3})
    result = json.loads((tmp_path / "stats.json").read_text())
    assert (result["pixels"], result["above"], result["share_above"]) == (3, 2, 2 / 3)
