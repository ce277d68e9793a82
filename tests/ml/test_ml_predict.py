from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import rasterio
from landcover_world import LANDSAT, SLOVENIA, world
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.errors import RasterError
from eotrust.ml.predict import predict_raster

if TYPE_CHECKING:
    from eotrust.settings import Settings

runner = CliRunner()


def test_class_map_and_probabilities_keep_the_inputs_grid(tmp_path: Path) -> None:
    w = world()
    r = predict_raster(w.model, w.cube, tmp_path / "c.tif", probabilities=tmp_path / "p.tif", figure=tmp_path / "c.png")
    with rasterio.open(w.cube) as src, rasterio.open(tmp_path / "c.tif") as c, rasterio.open(tmp_path / "p.tif") as p:
        assert c.crs == src.crs and c.transform == src.transform and c.shape == src.shape
        classes, probs = c.read(1), p.read()
        assert "forest" in c.tags()["classes"] and p.descriptions == (
            "forest",
            "grassland",
            "shrubland",
            "artificial surface",
        )
    assert set(np.unique(classes)) <= {2, 3, 4, 8}
    assert np.allclose(probs.sum(axis=0), 1, atol=1e-4)
    assert (np.array([2, 3, 4, 8])[probs.argmax(0)] == classes).all()
    assert sum(r.counts.values()) == 6060 and r.nodata_pixels == 0
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_raw_series_with_cloud_masks_gives_the_same_map_in_any_window_size(tmp_path: Path) -> None:
    w = world()
    predict_raster(w.model, w.cube, tmp_path / "a.tif")
    predict_raster(w.model, SLOVENIA / "ndvi.tif", tmp_path / "b.tif", cloud_mask=SLOVENIA / "cloud_mask.tif", block=16)
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        assert np.array_equal(a.read(), b.read())


def test_one_epoch_of_the_series(tmp_path: Path) -> None:
    r = predict_raster(world().model, world().cube, tmp_path / "y.tif", start="2017-01-01", end="2018-01-01")
    assert sum(r.counts.values()) == 6060
    with rasterio.open(tmp_path / "y.tif") as ds:
        assert ds.tags()["dates"].startswith("2017-01-01T")


def test_a_raster_without_the_models_bands_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RasterError, match="lacks the band"):
        predict_raster(world().model, LANDSAT, tmp_path / "x.tif")
    assert not (tmp_path / "x.tif").exists()


def test_cli_predict(tmp_path: Path, settings: Settings) -> None:
    out = tmp_path / "classes.tif"
    r = runner.invoke(
        app,
        [
            "--home",
            str(settings.home),
            "predict",
            "--model",
            str(world().model),
            "--raster",
            str(world().cube),
            "-o",
            str(out),
            "--probabilities",
            str(tmp_path / "p.tif"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert out.exists() and out.with_suffix(".png").exists() and (tmp_path / "p.tif").exists()


def test_one_class_map_encoding(tmp_path: Path) -> None:
    """predict writes what scene scoring writes: uint8 codes, nodata 0, the classes' colour table."""
    from eotrust.eo import classmap

    w = world()
    predict_raster(w.model, w.cube, tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as c:
        assert c.dtypes[0] == "uint8" and c.nodata == classmap.NODATA
        assert c.colormap(1)[2][:3] == (0x1B, 0x6E, 0x2E)  # forest, code 2, in its colour
    with pytest.raises(Exception, match="uint8"):
        classmap.codes_for([300], 1)
