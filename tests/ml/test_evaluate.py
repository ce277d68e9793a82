from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import rasterio
from landcover_world import SLOVENIA, world
from rasterio.windows import Window
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.errors import RasterError
from eotrust.ml.evaluate import evaluate_dataset, evaluate_raster, write_metrics
from eotrust.ml.metrics import confusion_matrix, metrics_from_confusion

if TYPE_CHECKING:
    from eotrust.settings import Settings

runner = CliRunner()


def test_metrics_by_hand() -> None:
    truth = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, 0])
    cm = confusion_matrix(truth, pred, 4)
    assert cm[:3, :3].tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    m = metrics_from_confusion(cm, ["a", "b", "c", "d"])
    assert m.pixel_accuracy == pytest.approx(4 / 6)
    a, b, c, d = m.per_class
    assert a.precision == pytest.approx(2 / 3) and a.recall == pytest.approx(2 / 3) and a.iou == pytest.approx(0.5)
    assert b.iou == pytest.approx(2 / 3) and b.f1 == pytest.approx(0.8)
    assert c.iou == 0 and c.precision is None and d.support == 0 and d.iou is None
    assert m.mean_iou == pytest.approx((0.5 + 2 / 3 + 0) / 3)  # classes present in the reference
    assert m.classes_present == ["a", "b", "c"] and m.majority_class == "a" and m.majority_baseline_accuracy == 0.5


def test_held_out_blocks_with_json_and_figure(tmp_path: Path) -> None:
    w = world()
    m = evaluate_dataset(w.model, w.dataset, split="test")
    assert m.majority_baseline_accuracy is not None
    assert m.split == "test" and m.n_pixels > 500 and 0.6 < m.majority_baseline_accuracy < 0.9
    assert m.pixel_accuracy > m.majority_baseline_accuracy - 0.1
    write_metrics(m, tmp_path / "m.json", tmp_path / "m.png")
    back = json.loads((tmp_path / "m.json").read_text())
    assert back["confusion"] == m.confusion and len(back["per_class"]) == 4
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _crop(src: Path, dest: Path, win: Window, labels: np.ndarray | None = None) -> Path:
    with rasterio.open(src) as ds:
        profile = ds.profile | {
            "width": int(win.width),
            "height": int(win.height),
            "transform": ds.window_transform(win),
        }
        data = ds.read(window=win) if labels is None else labels[None]
        with rasterio.open(dest, "w", **profile) as out:
            out.write(data)
            out.descriptions = ds.descriptions
            out.update_tags(**ds.tags())
    return dest


def test_any_rasters_laid_out_like_the_shared_data(tmp_path: Path) -> None:
    """Another patch (a crop), whose reference has a class the model never saw (water)."""
    win = Window(10, 20, 40, 60)
    ndvi = _crop(SLOVENIA / "ndvi.tif", tmp_path / "ndvi.tif", win)
    clouds = _crop(SLOVENIA / "cloud_mask.tif", tmp_path / "clouds.tif", win)
    with rasterio.open(SLOVENIA / "lulc.tif") as ds:
        y = ds.read(1, window=win)
    y[:5, :5] = 5
    lulc = _crop(SLOVENIA / "lulc.tif", tmp_path / "lulc.tif", win, labels=y)
    m = evaluate_raster(world().model, ndvi, lulc, cloud_mask=clouds)
    assert m.n_pixels == int((y > 0).sum())
    water = next(c for c in m.per_class if c.name == "water")
    assert water.support == 25 and water.recall == 0 and water.predicted == 0
    assert "water" in m.classes_present
    with pytest.raises(RasterError, match="another grid"):
        evaluate_raster(world().model, SLOVENIA / "ndvi.tif", lulc)


def test_cli_prints_and_writes_metrics(tmp_path: Path, settings: Settings) -> None:
    out = tmp_path / "metrics.json"
    r = runner.invoke(
        app,
        [
            "--home",
            str(settings.home),
            "evaluate",
            "--model",
            str(world().model),
            "--raster",
            str(SLOVENIA / "ndvi.tif"),
            "--cloud-mask",
            str(SLOVENIA / "cloud_mask.tif"),
            "--labels",
            str(SLOVENIA / "lulc.tif"),
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "pixel accuracy" in r.stdout and "majority-class baseline" in r.stdout
    assert json.loads(out.read_text())["n_pixels"] == 6060 - 126 and out.with_suffix(".png").exists()
