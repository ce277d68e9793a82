from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from eo_world import write_raster

from eotrust.eo.raster import Grid
from eotrust.eo.tiles import dates_between, is_empty, iter_tiles, temporal_windows, tile_grid, tile_raster
from eotrust.errors import RasterError


def test_tiles_overlap_and_carry_their_own_transform(landsat: Path) -> None:
    with rasterio.open(landsat) as ds:
        grid = Grid.from_dataset(ds)
    tiles = tile_grid(grid, 256, 32)
    assert len(tiles) == 4 * 4  # ceil((791-32)/224) x ceil((718-32)/224)
    t = tiles[5]
    assert (t.x, t.y) == (224, 224)
    x0, y0 = rasterio.transform.xy(grid.affine, t.y, t.x, offset="ul")
    assert (t.transform[2], t.transform[5]) == pytest.approx((x0, y0))
    with pytest.raises(RasterError):
        tile_grid(grid, 64, 64)


def test_tile_raster_writes_georeferenced_tiles_and_skips_empty_ones(tmp_path: Path, landsat: Path) -> None:
    report = tile_raster(landsat, tmp_path / "tiles", 256, 32)
    assert report.skipped_empty >= 1  # the scene's nodata corners
    assert len(report.tiles) + report.skipped_empty == 16
    one = report.tiles[3]
    with rasterio.open(landsat) as src, rasterio.open(one.path) as tile:
        assert tile.crs == src.crs and tile.shape == (256, 256) and tile.nodata == src.nodata
        assert tuple(tile.transform)[:6] == pytest.approx(one.tile.transform)
        # the same pixels as the source at the same map position
        win = rasterio.windows.from_bounds(*tile.bounds, transform=src.transform)
        h = min(256, src.height - one.tile.y)
        w = min(256, src.width - one.tile.x)
        assert np.array_equal(tile.read()[:, :h, :w], src.read(window=win.round_offsets().round_lengths())[:, :h, :w])
    index = json.loads((tmp_path / "tiles" / "tiles.json").read_text())
    assert len(index["tiles"]) == len(report.tiles)


def test_empty_tiles() -> None:
    assert is_empty(np.zeros((2, 4, 4), np.uint8), 0)
    assert is_empty(np.full((1, 2, 2), np.nan, np.float32), None)
    assert not is_empty(np.ones((1, 2, 2), np.uint8), 0)
    assert not is_empty(np.zeros((1, 2, 2), np.uint8), None)


def test_an_all_nodata_raster_yields_no_tile(tmp_path: Path) -> None:
    p = write_raster(tmp_path / "empty.tif", np.zeros((3, 40, 40), np.uint8), nodata=0)
    assert list(iter_tiles(p, 16)) == []
    report = tile_raster(p, tmp_path / "t", 16)
    assert report.tiles == [] and report.skipped_empty == 9


def test_temporal_windows(slovenia: Path) -> None:
    from eotrust.eo.raster import raster_info

    dates = raster_info(slovenia / "ndvi.tif").dates
    assert dates is not None
    yearly = temporal_windows(dates, days=365)
    assert [w.start for w in yearly] == ["2015-07-11", "2016-07-10", "2017-07-10"]
    assert sum(len(w.indices) for w in yearly) == 68
    by_count = temporal_windows(dates, count=10, step=5)
    assert by_count[0].indices == tuple(range(10)) and by_count[1].indices[0] == 5
    assert by_count[-1].indices[-1] == 67
    # a window longer than the series covers it all (1e8 days overflowed the calendar: a
    # traceback from `eo stack --composite-days 100000000`); NaN, infinity and 0 are refused
    (whole,) = temporal_windows(dates, days=1e8)
    assert whole.indices == tuple(range(68)) and whole.start == "2015-07-11"
    assert len(temporal_windows(dates, days=30, step_days=1e300)) == 1
    for bad in (0.0, -3.0, float("nan"), float("inf")):
        with pytest.raises(RasterError, match="must last more than 0 days"):
            temporal_windows(dates, days=bad)
        with pytest.raises(RasterError, match="must be more than 0 days"):
            temporal_windows(dates, days=30, step_days=bad)
    assert dates_between(dates, "2017-01-01", None)[0] == 32
    with pytest.raises(RasterError, match="no date between"):
        dates_between(dates, "2030-01-01", None)
