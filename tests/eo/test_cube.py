from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from eo_world import write_raster

from eotrust.eo.cube import Source, open_cube, stack, write_cube
from eotrust.eo.raster import raster_info
from eotrust.errors import RasterError


def test_stack_the_real_series_and_masks(slovenia: Path) -> None:
    cube = stack(
        [slovenia / "ndvi.tif", Source(slovenia / "cloud_mask.tif", resampling="nearest"), slovenia / "dem.tif"]
    )
    assert cube.shape == (68, 3, 101, 60)
    assert cube.bands == ("ndvi", "cloud_mask", "dem")
    with cube.reader() as r:
        x = r.read(cube.grid.full_window())
    import rasterio

    with rasterio.open(slovenia / "ndvi.tif") as ds:
        assert np.array_equal(x[:, 0], ds.read())
    with rasterio.open(slovenia / "dem.tif") as ds:
        assert np.array_equal(x[5, 2], ds.read(1))  # static band repeated at every date


def test_cube_geotiff_round_trip(tmp_path: Path, slovenia: Path) -> None:
    cube = stack([slovenia / "ndvi.tif", Source(slovenia / "cloud_mask.tif", resampling="nearest")])
    out = write_cube(cube, tmp_path / "cube.tif", block=32)
    back = open_cube(out)
    assert back.bands == cube.bands and back.dates == cube.dates and back.grid.matches(cube.grid)
    with cube.reader() as a, back.reader() as b:
        win = cube.grid.full_window()
        assert np.array_equal(a.read(win), b.read(win), equal_nan=True)
    info = raster_info(out)
    assert info.descriptions[1] == "cloud_mask@2015-07-11T10:00:08"


def test_reprojects_a_raster_on_another_grid(tmp_path: Path, slovenia: Path) -> None:
    # the DEM at 20 m in the same CRS: read back on the 10 m grid through rasterio.warp
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(slovenia / "dem.tif") as ds:
        coarse = ds.read(1, out_shape=(51, 30), resampling=Resampling.average)
        t = ds.transform @ Affine.scale(60 / 30, 101 / 51)
    p = write_raster(tmp_path / "dem20.tif", coarse.astype("float32"), transform=t, descriptions=["dem20"])
    cube = stack([slovenia / "ndvi.tif", p])
    with cube.reader() as r:
        x = r.read(cube.grid.full_window())
    with rasterio.open(slovenia / "dem.tif") as ds:
        fine = ds.read(1)
    got = x[0, 1]
    assert got.shape == fine.shape
    inside = ~np.isnan(got)
    assert inside.mean() > 0.9
    assert np.abs(got[inside] - fine[inside]).mean() < 25  # elevation within metres


def test_sar_and_optical_stack_by_date(tmp_path: Path) -> None:
    dates = ["2020-01-01", "2020-01-11"]
    opt = write_raster(tmp_path / "s2.tif", np.ones((2, 5, 5), "float32"), descriptions=dates)
    sar = write_raster(tmp_path / "s1.tif", np.full((2, 5, 5), -12.0, "float32"), descriptions=dates)
    cube = stack([Source(opt, band="ndvi"), Source(sar, band="vv")])
    assert cube.bands == ("ndvi", "vv") and cube.dates == tuple(dates)
    with cube.reader() as r:
        x = r.read(cube.grid.full_window())
    assert (x[:, 1] == -12).all()


def test_missing_dates_are_refused_unless_allowed(tmp_path: Path) -> None:
    opt = write_raster(
        tmp_path / "s2.tif", np.ones((3, 4, 4), "float32"), descriptions=["2020-01-01", "2020-01-11", "2020-01-21"]
    )
    sar = write_raster(tmp_path / "s1.tif", np.ones((2, 4, 4), "float32"), descriptions=["2020-01-01", "2020-01-21"])
    with pytest.raises(RasterError, match="'vv' has no layer at 1 of the cube's 3 dates .2020-01-11"):
        stack([Source(opt, band="ndvi"), Source(sar, band="vv")])
    cube = stack([Source(opt, band="ndvi"), Source(sar, band="vv")], allow_missing=True)
    with cube.reader() as r:
        x = r.read(cube.grid.full_window())
    assert np.isnan(x[1, 1]).all() and not np.isnan(x[0, 1]).any()
    with pytest.raises(RasterError, match="has no layer"):
        stack([Source(opt, band="ndvi")], dates=["2020-01-01", "2020-02-01"])


def test_rasters_that_cannot_be_aligned_are_refused(slovenia: Path, landsat: Path) -> None:
    with pytest.raises(RasterError, match="does not overlap .* cannot be aligned"):
        stack([slovenia / "ndvi.tif", landsat])


def test_raster_without_crs_cannot_be_stacked(tmp_path: Path, slovenia: Path) -> None:
    p = write_raster(tmp_path / "nocrs.tif", np.ones((101, 60), "float32"), crs=None)
    with pytest.raises(RasterError, match="no CRS"):
        stack([slovenia / "ndvi.tif", p])


def test_windows_beyond_the_edge_read_nan(slovenia: Path) -> None:
    from rasterio.windows import Window

    cube = open_cube(slovenia / "ndvi.tif")
    with cube.reader() as r:
        x = r.read(Window(50, 90, 20, 20))
    assert x.shape == (68, 1, 20, 20)
    assert not np.isnan(x[:, :, :11, :10]).any() and np.isnan(x[:, :, 11:, :]).all() and np.isnan(x[:, :, :, 10:]).all()
