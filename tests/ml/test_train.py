from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from landcover_world import world
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.eo.dataset import TrainingDataset
from eotrust.errors import InvalidInputError, ModelError
from eotrust.ml.checkpoint import load_checkpoint
from eotrust.ml.modeldef import load_model_def, parse_model_def
from eotrust.ml.train import class_weights, train

if TYPE_CHECKING:
    from eotrust.ml.modeldef import ModelDef
    from eotrust.settings import Settings

runner = CliRunner()


def _quick(**training: object) -> ModelDef:
    return load_model_def("temporal_cnn_quick").with_training(max_train_samples=1500, **training)


def test_same_data_and_seed_give_the_same_weights(tmp_path: Path) -> None:
    w = world()
    with TrainingDataset(w.dataset) as ds:
        train(ds, _quick(epochs=2, seed=7), tmp_path / "a.pt")
        train(ds, _quick(epochs=2, seed=7), tmp_path / "b.pt")
        train(ds, _quick(epochs=2, seed=8), tmp_path / "c.pt")
    a, b, c = (torch.load(tmp_path / f"{n}.pt", weights_only=True)["state_dict"] for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_checkpoint_has_everything_the_packager_needs() -> None:
    model, meta = load_checkpoint(world().model)
    assert not model.training
    for key in (
        "model_def",
        "in_channels",
        "num_classes",
        "classes",
        "bands",
        "normalisation",
        "metrics",
        "train_params",
        "dataset_cid",
        "input_layout",
        "class_codes",
        "colours",
        "timesteps",
    ):
        assert key in meta, key
    assert meta["classes"] == ["forest", "grassland", "shrubland", "artificial surface"]
    assert meta["class_codes"] == [2, 3, 4, 8] and meta["input_layout"] == "NCT" and meta["bands"] == ["ndvi"]
    assert meta["dataset_cid"].startswith("Qm") and len(meta["normalisation"]["mean"]) == 1
    assert meta["metrics"]["validation"]["pixel_accuracy"] > 0.5
    out = model(torch.zeros(3, 1, 68))
    assert out.shape == (3, 4)


def test_the_model_package_code_exports_the_checkpoint(tmp_path: Path) -> None:
    from eth_account import Account

    from eotrust.ml.onnx_export import package_checkpoint

    dest = package_checkpoint(world().model, Account.from_key("0x" + "11" * 32), tmp_path / "model.eotrust")
    assert Path(dest).stat().st_size > 1000


def test_early_stopping_restores_the_best_epoch(tmp_path: Path) -> None:
    with TrainingDataset(world().dataset) as ds:
        r = train(ds, _quick(epochs=30, patience=2, learning_rate=1e-7), tmp_path / "m.pt")
    assert r.stopped_early and r.epochs_run < 30 and r.best_epoch <= r.epochs_run - 2
    assert r.samples_per_second > 0 and r.history[0].val_miou is not None


def test_class_weights_favour_rare_classes() -> None:
    y = np.array([0] * 90 + [1] * 9 + [2])
    inv = class_weights(y, 4, "inverse").numpy()
    sq = class_weights(y, 4, "sqrt_inverse").numpy()
    assert inv[2] > inv[1] > inv[0] and sq[2] > sq[1] > sq[0] and inv[2] / inv[0] > sq[2] / sq[0]
    assert inv[3] == 0  # absent class
    assert class_weights(y, 4, "none").tolist() == [1, 1, 1, 1]


def test_a_bad_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "junk.pt"
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable checkpoint"):
        load_checkpoint(p)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not an eotrust checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_segmentation_tiles_train_through_the_same_trainer(tmp_path: Path) -> None:
    from eotrust.eo.dataset import build_dataset

    w = world()
    build_dataset(w.cube, w.labels, tmp_path / "tiles.zip", tile_size=16, fractions=(0.6, 0.2, 0.2))
    md = parse_model_def(
        {
            "name": "tiny-enet",
            "architecture": "enet",
            "params": {"widths": [8, 96, 96], "stage1_repeats": 1, "encoder_stages": 1},
            "training": {"epochs": 1, "batch_size": 4},
        }
    )
    with TrainingDataset(tmp_path / "tiles.zip") as ds:
        r = train(ds, md, tmp_path / "enet.pt")
    model, meta = load_checkpoint(tmp_path / "enet.pt")
    assert meta["input_layout"] == "NCHW" and meta["in_channels"] == 68 and len(meta["bands"]) == 68
    assert r.epochs_run == 1 and model(torch.zeros(1, 68, 16, 16)).shape == (1, 4, 16, 16)


def test_cli_trains_a_dataset_from_the_store(tmp_path: Path, settings: Settings) -> None:
    from eotrust.store import open_store

    cid = open_store(settings).put_file(world().dataset)
    home = ["--home", str(settings.home)]
    r = runner.invoke(
        app,
        [
            *home,
            "train",
            "--dataset",
            cid,
            "--model-def",
            "temporal_cnn_quick",
            "--epochs",
            "1",
            "-o",
            str(tmp_path / "m.pt"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    _, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta["dataset_cid"] == cid
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\narchitecture: temporal_cnn\nparams: {kernel_size: 2}\n")
    r = runner.invoke(app, [*home, "train", "--dataset", cid, "--model-def", str(bad), "-o", str(tmp_path / "n.pt")])
    assert r.exit_code != 0 and isinstance(r.exception, InvalidInputError) and "odd" in str(r.exception)


def test_a_time_encoded_ensemble_records_its_dates_and_predicts_a_season(tmp_path: Path) -> None:
    from eotrust.eo.cube import open_cube
    from eotrust.eo.features import day_of_year
    from eotrust.ml.predict import Predictor

    w = world()
    md = _quick(epochs=1)
    md = md.model_copy(update={"params": {**md.params, "hidden": 8, "time_encoding": "doy", "members": 2}})
    with TrainingDataset(w.dataset) as ds:
        train(ds, md, tmp_path / "m.pt")
        dates = ds.manifest.dates
    model, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta["model_def"]["params"]["days_of_year"] == day_of_year(dates)
    assert meta["in_channels"] == 1  # the day of year is the model's own input, not a cube band
    pred = Predictor.load(tmp_path / "m.pt")
    cube = open_cube(w.cube)
    season = cube.select(dates=list(range(20, 30)))  # ten dates of the archive: told their own days of year
    with season.reader() as r:
        data, _ = pred._prepare(r.read(season.grid.full_window()), season)
    probs = pred.probabilities(data, dates=season.dates)
    assert probs.shape[0] == 4 and np.allclose(probs.sum(axis=0), 1.0, atol=1e-5)


def test_a_time_encoded_model_package_scores_the_raw_series_as_the_workflow_predicts(tmp_path: Path) -> None:
    import rasterio
    from eth_account import Account
    from landcover_world import raw_inputs

    from eotrust.ml.onnx_export import package_checkpoint
    from eotrust.ml.predict import predict_raster
    from eotrust.ml.scoring.batch import Scorer
    from eotrust.ml.scoring.scene import score_scene

    w = world()
    md = _quick(epochs=1)
    md = md.model_copy(update={"params": {**md.params, "hidden": 8, "time_encoding": "doy"}})
    with TrainingDataset(w.dataset) as ds:
        train(ds, md, tmp_path / "m.pt")
    package_checkpoint(tmp_path / "m.pt", Account.from_key("0x" + "11" * 32), tmp_path / "pkg", name="doy")
    raw = raw_inputs()
    score_scene(
        Scorer.from_file(tmp_path / "pkg", verify=False),
        raw["ndvi"],
        tmp_path / "score.tif",
        cloud_mask=raw["cloud_mask"],
    )
    predict_raster(tmp_path / "m.pt", w.cube, tmp_path / "pred.tif")
    with rasterio.open(tmp_path / "score.tif") as a, rasterio.open(tmp_path / "pred.tif") as b:
        assert (a.read(1) == b.read(1)).mean() > 0.999  # the graph carries the training dates' days of year


def test_series_jitter_changes_the_batch_deterministically_and_bad_settings_are_refused() -> None:
    from eotrust.ml.train import _jitter

    cfg = _quick(offset_jitter=0.2, scale_jitter=0.1, noise=0.1, date_dropout=0.25).training
    x = torch.ones(64, 1, 40)
    a = _jitter(x, cfg, torch.Generator().manual_seed(3))
    b = _jitter(x, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, x)
    blanked = float((a == 0).float().mean())
    assert 0.15 < blanked < 0.35  # about a quarter of the dates blanked to the mean
    assert torch.equal(_jitter(x, _quick().training, torch.Generator().manual_seed(3)), x)  # off by default
    for bad in ({"date_dropout": 1.0}, {"noise": -0.1}, {"scale_jitter": 2.0}):
        with pytest.raises(InvalidInputError, match=next(iter(bad))):
            parse_model_def({"name": "m", "architecture": "temporal_cnn", "training": bad})
