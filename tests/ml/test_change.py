from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pytest
import rasterio
from landcover_world import SLOVENIA, world
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.errors import RasterError
from eotrust.ml.change import change_between_epochs, change_map

if TYPE_CHECKING:
    from eotrust.settings import Settings

runner = CliRunner()


def _altered(src: Path, dest: Path) -> Path:
    with rasterio.open(src) as ds:
        y, profile, tags = ds.read(1), ds.profile, ds.tags()
    y[:10, :10] = np.where(y[:10, :10] == 2, 8, y[:10, :10])  # forest → artificial surface
    with rasterio.open(dest, "w", **profile) as out:
        out.write(y, 1)
        out.update_tags(**tags)
    return dest


def test_change_between_two_class_maps(tmp_path: Path) -> None:
    before = SLOVENIA / "lulc.tif"
    after = _altered(before, tmp_path / "after.tif")
    with rasterio.open(before) as ds:
        y = ds.read(1)
    expected = int((y[:10, :10] == 2).sum())
    r = change_map(before, after, tmp_path / "change.tif", figure=tmp_path / "change.png")
    assert r.changed_pixels == expected and r.transitions == {"forest -> artificial surface": expected}
    assert r.valid_pixels == int((y > 0).sum())
    with rasterio.open(tmp_path / "change.tif") as ds:
        assert ds.crs.to_string() == "EPSG:32633" and ds.descriptions == (
            "changed",
            "from",
            "to",
            "intensity",
            "uncertain",
        )
        changed = ds.read(1)
    assert np.nansum(changed) == expected and np.isnan(changed[y == 0]).all()
    same = change_map(before, before, tmp_path / "none.tif")
    assert same.changed_pixels == 0


def test_class_maps_on_different_grids_are_refused(tmp_path: Path) -> None:
    from eotrust.eo.raster import raster_info  # noqa: F401

    with pytest.raises(RasterError, match="another grid"):
        change_map(
            SLOVENIA / "lulc.tif",
            Path(__file__).resolve().parents[1] / "data" / "landsat-rgb" / "RGB.byte.tif",
            tmp_path / "x.tif",
        )
    assert not (tmp_path / "x.tif").exists()


def test_change_between_two_epochs_of_the_cube(tmp_path: Path) -> None:
    w = world()
    r = change_between_epochs(
        w.model,
        w.cube,
        tmp_path / "change.tif",
        epoch_a=(None, "2016-07-01"),
        epoch_b=("2017-01-01", None),
        work_dir=tmp_path,
        figure=tmp_path / "change.png",
    )
    assert r.valid_pixels == 6060 and 0 <= r.changed_pixels < 6060
    with rasterio.open(tmp_path / "change.tif") as ds:
        band = ds.read()
    assert np.nanmax(band[3]) <= 1 and np.nanmin(band[3]) >= 0
    assert (band[0][band[3] < 0.5] == 0).all()  # low-confidence flips are not counted as change
    # changed and uncertain are apart: no pixel is both, and the uncertain ones are counted
    assert band.shape[0] == 5 and not ((band[0] == 1) & (band[4] == 1)).any()
    assert r.uncertain_pixels == int(np.nansum(band[4])) and cast(float, r.to_dict()["uncertain_fraction"]) >= 0
    stricter = change_between_epochs(
        w.model,
        w.cube,
        tmp_path / "c2.tif",
        epoch_a=(None, "2016-07-01"),
        epoch_b=("2017-01-01", None),
        work_dir=tmp_path,
        min_confidence=0.99,
    )
    assert stricter.changed_pixels <= r.changed_pixels and stricter.uncertain_pixels >= r.uncertain_pixels
    assert (tmp_path / "change.png").stat().st_size > 1000


def test_cli_change(tmp_path: Path, settings: Settings) -> None:
    after = _altered(SLOVENIA / "lulc.tif", tmp_path / "after.tif")
    r = runner.invoke(
        app,
        [
            "--home",
            str(settings.home),
            "change",
            str(SLOVENIA / "lulc.tif"),
            str(after),
            "-o",
            str(tmp_path / "c.tif"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["changed_pixels"] > 0 and (tmp_path / "c.png").exists()
    r = runner.invoke(
        app,
        [
            "--home",
            str(settings.home),
            "change",
            "--model",
            str(world().model),
            "--raster",
            str(world().cube),
            "-o",
            str(tmp_path / "e.tif"),
            "--epoch-a",
            "2015-07-01/2016-07-01",
            "--epoch-b",
            "2017-01-01/2018-01-01",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "pixels changed" in r.stdout


@pytest.mark.parametrize("option", ["--min-confidence", "--min-intensity"])
def test_a_threshold_outside_zero_to_one_is_a_usage_error(tmp_path: Path, option: str) -> None:
    """Found by hand: `--min-confidence 2` was taken, and every pixel called uncertain."""
    r = runner.invoke(
        app,
        ["change", "--model", str(world().model), "--raster", str(world().cube)]
        + ["-o", str(tmp_path / "e.tif"), option, "2"],
    )
    assert r.exit_code == 2 and f"Invalid value for '{option}'" in r.output, r.output
    assert not (tmp_path / "e.tif").exists()
