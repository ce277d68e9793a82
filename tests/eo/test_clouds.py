from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eo_world import write_raster

from eotrust.eo.clouds import apply_mask, clean_cube, composite, interpolate_time
from eotrust.eo.cube import Source, open_cube, stack
from eotrust.eo.tiles import temporal_windows
from eotrust.errors import RasterError


def test_interpolation_is_linear_in_time_and_holds_the_ends() -> None:
    x = np.array([np.nan, 1.0, np.nan, np.nan, 4.0, np.nan], dtype=np.float32).reshape(6, 1, 1, 1)
    days = np.array([0, 10, 20, 30, 40, 50], dtype=float)
    out = interpolate_time(x, days).ravel()
    assert out.tolist() == pytest.approx([1, 1, 2, 3, 4, 4])
    uneven = interpolate_time(np.array([0, np.nan, 10], np.float32).reshape(3, 1), np.array([0, 9, 10.0]))
    assert uneven.ravel()[1] == pytest.approx(9)
    never = interpolate_time(np.full((3, 1), np.nan, np.float32), np.arange(3.0))
    assert np.isnan(never).all()


def test_composite_ignores_clouds_and_all_cloud_windows_give_nan() -> None:
    x = np.array([1, np.nan, 3, np.nan, np.nan], np.float32).reshape(5, 1, 1, 1)
    out = composite(x, [(0, 1, 2), (3, 4)])
    assert out[0].item() == 2 and np.isnan(out[1].item())


def test_mask_shape_is_checked() -> None:
    with pytest.raises(RasterError):
        apply_mask(np.zeros((2, 1, 3, 3)), np.zeros((3, 3, 3), bool))


def test_clean_the_real_series(tmp_path: Path, slovenia: Path) -> None:
    cube = stack([slovenia / "ndvi.tif", Source(slovenia / "cloud_mask.tif", band="cloud_mask", resampling="nearest")])
    report = clean_cube(cube, tmp_path / "clean.tif")
    assert report.dates == 68 and report.bands == ("ndvi",)
    assert 0.3 < report.masked_fraction < 0.5
    assert len(report.all_cloud_dates) == 20  # dates cloudy at every pixel: filled like any gap
    clean = open_cube(tmp_path / "clean.tif")
    with clean.reader() as r:
        x = r.read(clean.grid.full_window())
    assert not np.isnan(x).any()
    import rasterio

    with rasterio.open(slovenia / "ndvi.tif") as a, rasterio.open(slovenia / "cloud_mask.tif") as m:
        raw, cloud = a.read(), m.read().astype(bool)
    assert np.array_equal(x[:, 0][~cloud], raw[~cloud])  # clear observations untouched
    assert not np.allclose(x[:, 0][cloud], raw[cloud])  # cloudy ones replaced


def test_composites_over_temporal_windows(tmp_path: Path, slovenia: Path) -> None:
    cube = stack([slovenia / "ndvi.tif", Source(slovenia / "cloud_mask.tif", band="cloud_mask", resampling="nearest")])
    wins = temporal_windows(cube.dates, days=90)
    report = clean_cube(cube, tmp_path / "comp.tif", method="composite", windows_=wins)
    assert report.dates == len(wins) and 8 <= len(wins) <= 11


def test_a_cube_cloudy_everywhere_is_refused(tmp_path: Path) -> None:
    d = ["2020-01-01", "2020-01-11"]
    v = write_raster(tmp_path / "v.tif", np.ones((2, 4, 4), "float32"), descriptions=d)
    m = write_raster(tmp_path / "m.tif", np.ones((2, 4, 4), "uint8"), descriptions=d)
    cube = stack([Source(v, band="ndvi"), Source(m, band="cloud_mask")])
    with pytest.raises(RasterError, match="no clear observation"):
        clean_cube(cube, tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()
