"""The land-cover application: each service alone, and the whole workflow through the engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import rasterio
from landcover_world import raw_inputs, world

from eotrust.errors import InvalidInputError
from eotrust.ml import landcover

if TYPE_CHECKING:
    from eotrust.settings import Settings


def test_prepare_takes_the_two_owners_inputs_separately(tmp_path: Path) -> None:
    out = {"cube": tmp_path / "cube.tif", "labels": tmp_path / "labels.tif"}
    landcover.prepare(raw_inputs(), out, {})
    with rasterio.open(out["cube"]) as c, rasterio.open(out["labels"]) as lab:
        assert c.count == 68 and c.descriptions[0] == "ndvi@2015-07-11T10:00:08" and lab.tags()["classes"]
        assert c.transform == lab.transform
    with pytest.raises(InvalidInputError, match="lulc"):
        landcover.prepare({k: v for k, v in raw_inputs().items() if k != "lulc"}, out, {})


def test_dataset_bytes_are_stable(tmp_path: Path) -> None:
    w = world()
    landcover.dataset({"cube": w.cube, "labels": w.labels}, {"dataset": tmp_path / "d.zip"}, {"tile_size": 10})
    assert (tmp_path / "d.zip").read_bytes() == w.dataset.read_bytes()


def test_evaluate_predict_change_services(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = world()
    landcover.evaluate(
        {"model": w.model, "dataset": w.dataset}, {"metrics": tmp_path / "m.json", "figure": tmp_path / "m.png"}, {}
    )
    assert json.loads((tmp_path / "m.json").read_text())["split"] == "test"
    landcover.predict(
        {"model": w.model, "cube": w.cube}, {"classes": tmp_path / "c.tif", "figure": tmp_path / "c.png"}, {}
    )
    landcover.change(
        {"model": w.model, "cube": w.cube},
        {"change": tmp_path / "ch.tif", "figure": tmp_path / "ch.png", "summary": tmp_path / "ch.json"},
        {"split": "2017-01-01"},
    )
    summary = json.loads((tmp_path / "ch.json").read_text())
    assert summary["valid_pixels"] == 6060 and summary["epochs"][1].startswith("2017-01-01")
    assert "pixel accuracy" in capsys.readouterr().out


def test_default_epochs_are_the_first_and_last_year() -> None:
    a, b = landcover.default_epochs(["2015-07-11T10:00:08", "2016-03-01", "2017-12-22T10:04:15"])
    assert a == ("2015-07-11", "2016-07-10") and b == ("2016-12-23", "2017-12-23")


@pytest.mark.slow
def test_the_whole_workflow_through_the_engine(settings: Settings) -> None:
    from eotrust.store import open_store
    from eotrust.workflow import run_workflow
    from eotrust.workflow.engine import Value

    store = open_store(settings)
    inputs: dict[str, Value] = {name: store.put_file(path) for name, path in raw_inputs().items()}
    result = run_workflow(settings, landcover.workflow_path(), inputs, {"quick": True, "epochs": 2}, store=store)
    assert result.status == "succeeded"
    assert {"metrics", "metrics_png", "classmap", "classmap_png", "change", "change_png", "model"} <= set(
        result.outputs
    )
    metrics_cid = result.outputs["metrics"]
    assert isinstance(metrics_cid, str)  # one file, not a scattered list
    metrics = json.loads(store.get_bytes(metrics_cid))
    assert metrics["n_pixels"] > 500 and metrics["majority_baseline_accuracy"] > 0.6
    again = run_workflow(settings, landcover.workflow_path(), inputs, {"quick": True, "epochs": 2}, store=store)
    assert again.outputs == result.outputs  # deterministic end to end: the cache and the bytes agree
