"""`eotrust eo …`: info, stack, tile, labels and dataset on the real sample; one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eo_world import truncated_copy
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.errors import RasterError
from eotrust.settings import Settings

runner = CliRunner()


@pytest.fixture
def home(settings: Settings) -> list[str]:
    return ["--home", str(settings.home)]


def test_info_json(home: list[str], slovenia: Path) -> None:
    r = runner.invoke(app, [*home, "eo", "info", str(slovenia / "ndvi.tif"), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["grid"]["crs"] == "EPSG:32633" and len(info["dates"]) == 68


def test_stack_labels_dataset_and_back_from_the_store(
    home: list[str], slovenia: Path, tmp_path: Path, settings: Settings
) -> None:
    cube, labels = tmp_path / "cube.tif", tmp_path / "labels.tif"
    r = runner.invoke(
        app,
        [
            *home,
            "eo",
            "stack",
            f"ndvi={slovenia / 'ndvi.tif'}",
            "--mask",
            str(slovenia / "cloud_mask.tif"),
            "-o",
            str(cube),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["bands"] == ["ndvi"] and len(json.loads(r.stdout)["all_cloud_dates"]) == 20
    r = runner.invoke(
        app, [*home, "eo", "labels", "--like", str(cube), "--raster", str(slovenia / "lulc.tif"), "-o", str(labels)]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*home, "eo", "dataset", str(cube), str(labels), "--tile-size", "10", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    from eotrust.store import open_store

    assert open_store(settings).has(out["cid"]) and out["tiles"] == 66
    again = runner.invoke(app, [*home, "eo", "dataset", str(cube), str(labels), "--tile-size", "10", "--json"])
    assert json.loads(again.stdout)["cid"] == out["cid"]  # a training set is named by its content


def test_tile_and_synthetic_labels(home: list[str], landsat: Path, slovenia: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, [*home, "eo", "tile", str(landsat), "-o", str(tmp_path / "t"), "--size", "200", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["tiles"] >= 12
    r = runner.invoke(
        app, [*home, "eo", "labels", "--like", str(slovenia / "ndvi.tif"), "--synthetic", "-o", str(tmp_path / "s.tif")]
    )
    assert r.exit_code == 0, r.output


def test_unalignable_rasters_are_an_error(home: list[str], slovenia: Path, landsat: Path, tmp_path: Path) -> None:
    r = runner.invoke(
        app, [*home, "eo", "stack", str(slovenia / "ndvi.tif"), str(landsat), "-o", str(tmp_path / "c.tif")]
    )
    assert r.exit_code != 0 and isinstance(r.exception, RasterError)
    assert not (tmp_path / "c.tif").exists()


@pytest.mark.parametrize("days", ["0", "nan", "inf", "-3"])
def test_composite_days_that_are_no_window_are_refused(
    home: list[str], slovenia: Path, tmp_path: Path, days: str
) -> None:
    # 0 was taken for "no composites" and the cube written; nan was a ValueError traceback
    out = tmp_path / "c.tif"
    r = runner.invoke(
        app, [*home, "eo", "stack", f"ndvi={slovenia / 'ndvi.tif'}", "--composite-days", days, "-o", str(out)]
    )
    assert isinstance(r.exception, RasterError) and "must last more than 0 days" in r.exception.message
    assert not out.exists()


def test_a_corrupt_geotiff_gives_one_clear_line(tmp_path: Path, slovenia: Path) -> None:
    broken = truncated_copy(slovenia / "ndvi.tif", tmp_path / "broken.tif", keep=0.4)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "eotrust.cli.main",
            "--home",
            str(tmp_path / "h"),
            "eo",
            "stack",
            str(broken),
            "-o",
            str(tmp_path / "c.tif"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "truncated or corrupt" in proc.stderr.replace("\n", " ")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "c.tif").exists()
