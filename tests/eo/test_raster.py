from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eo_world import truncated_copy, write_raster

from eotrust.eo.raster import Grid, block_size_for, open_raster, raster_info, read, windows
from eotrust.errors import NotFoundError, RasterError


def test_info_of_the_real_series_keeps_crs_transform_and_dates(slovenia: Path) -> None:
    info = raster_info(slovenia / "ndvi.tif")
    assert info.grid.crs == "EPSG:32633"
    assert (info.grid.width, info.grid.height) == (60, 101)
    assert info.grid.transform[0] == pytest.approx(9.99479, abs=1e-4)
    assert info.count == 68 and info.dtype == "float32"
    assert info.dates is not None and len(info.dates) == 68
    assert info.dates[0] == "2015-07-11T10:00:08" and info.dates[-1] == "2017-12-22T10:04:15"
    assert set(info.band_names) == {"ndvi"}


def test_info_of_labels_and_landsat(slovenia: Path, landsat: Path) -> None:
    lulc = raster_info(slovenia / "lulc.tif")
    assert lulc.nodata == 0 and lulc.dates is None and "classes" in lulc.tags
    rgb = raster_info(landsat)
    assert rgb.grid.crs == "EPSG:32618" and rgb.count == 3 and rgb.nodata == 0
    assert rgb.band_names == ("RGB.byte_b1", "RGB.byte_b2", "RGB.byte_b3")


def test_grid_round_trip_and_matching(slovenia: Path) -> None:
    g = raster_info(slovenia / "ndvi.tif").grid
    assert Grid.from_dict(g.to_dict()) == g
    assert g.matches(raster_info(slovenia / "lulc.tif").grid)
    shifted = Grid(g.crs, (g.transform[0], 0, g.transform[2] + 5, 0, g.transform[4], g.transform[5]), g.width, g.height)
    assert not g.matches(shifted)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        raster_info(tmp_path / "nope.tif")


def test_corrupt_geotiff_is_a_clear_error(tmp_path: Path, slovenia: Path) -> None:
    broken = truncated_copy(slovenia / "ndvi.tif", tmp_path / "broken.tif", keep=0.3)
    with pytest.raises(RasterError, match="truncated or corrupt"):
        with open_raster(broken) as ds:
            read(ds)
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"II*\x00" + b"\x00" * 20)
    with pytest.raises(RasterError, match="not a readable raster"):
        raster_info(garbage)


def test_raster_without_crs_is_refused_where_it_matters(tmp_path: Path) -> None:
    p = write_raster(tmp_path / "nocrs.tif", np.ones((3, 4), "float32"), crs=None)
    assert raster_info(p).grid.crs == ""  # info still describes it
    with pytest.raises(RasterError, match="no CRS"):
        with open_raster(p):
            pass


def test_windows_cover_the_grid_once_and_bound_memory() -> None:
    g = Grid("EPSG:32633", (10, 0, 0, 0, -10, 0), 10980, 10980)
    side = block_size_for(g, 13 * 2, budget_bytes=64 * 2**20)
    assert side * side * 13 * 2 <= 64 * 2**20 and side % 16 == 0
    small = Grid("EPSG:32633", (10, 0, 0, 0, -10, 0), 37, 23)
    cover = np.zeros((23, 37), int)
    for w in windows(small, 16):
        cover[int(w.row_off) : int(w.row_off + w.height), int(w.col_off) : int(w.col_off + w.width)] += 1
    assert (cover == 1).all()


def test_the_block_cache_holds_a_whole_strip_of_tiles(tmp_path: Path) -> None:
    """Tiles of 512 at a stride of 448 on blocks of 256 touch up to three rows of blocks, and the
    next strip starts inside the last of them: a cache of two rows (what scene scoring had)
    dropped that row before the next strip read it, decoding a third of the blocks twice."""
    import rasterio

    from eotrust.eo.raster import block_cache_bytes
    from eotrust.ml.scoring.scene import tile_starts

    path = tmp_path / "wide.tif"
    profile = {"driver": "GTiff", "width": 4096, "height": 2048, "count": 13, "dtype": "uint16"}
    with rasterio.open(path, "w", **profile, tiled=True, blockxsize=256, blockysize=256, compress="deflate"):
        pass  # sparse: no block written
    with rasterio.open(path) as ds:
        row = 256 * ds.width * ds.count * 2  # bytes in one row of blocks, every band
        touched = max(len(range(y // 256, (y + 511) // 256 + 1)) for y in tile_starts(2048, 512, 448))
        assert touched == 3
        assert block_cache_bytes(ds, 512, most=1 << 30) >= (touched + 1) * row
        assert block_cache_bytes(ds) == 2 * row  # windows of whole rows of blocks: two rows, as before
        assert block_cache_bytes(ds, 512, most=64 << 20) == 64 << 20  # never above the bound
