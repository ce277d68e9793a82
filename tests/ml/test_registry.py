"""The model registry and `eotrust model …`: versions, lineage, export/import, verify, score, stream."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from tiny_models import OWNER, repackaged, tiny_enet_package
from typer.testing import CliRunner

from eotrust.cid import cid_of_file, to_v1
from eotrust.cli.main import app
from eotrust.errors import IntegrityError, InvalidInputError, NotFoundError
from eotrust.ml.registry import Registry, list_models
from eotrust.settings import Settings, load_settings

runner = CliRunner()


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, tiny_enet_zip: Path) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("reg")
    v1 = Path(shutil.copyfile(tiny_enet_zip, d / "v1.zip"))
    v2 = tiny_enet_package(
        d / "v2.zip",
        metrics={"pixel_accuracy": 0.75, "miou": 0.5},
        created="2024-06-01T12:00:00Z",
        lineage={"run": "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"},
    )
    return v1, v2


def test_versions_lineage_and_lookup(settings: Settings, packages: tuple[Path, Path]) -> None:
    v1, v2 = packages
    reg = Registry(settings)
    e1 = reg.register(v1)
    assert (e1.name, e1.version, e1.owner, e1.cid) == ("tiny", 1, OWNER.address, cid_of_file(v1))
    assert reg.register(v1) == e1  # registering again changes nothing
    e2 = reg.register(v2, cid=cid_of_file(v2))
    assert e2.version == 2 and e2.metrics["pixel_accuracy"] == 0.75
    assert reg.store.has(e1.cid) and reg.store.has(e2.cid)
    assert reg.get("tiny") == e2 and reg.get("tiny:1") == e1 and reg.get("tiny@2") == e2
    assert reg.get(to_v1(e1.cid)) == e1
    assert [e.version for e in list_models(settings)] == [1, 2]
    lineage = reg.lineage("tiny:1")
    assert lineage["training_data"] == [{"cid": "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB", "in_store": False}]
    assert reg.lineage("tiny:2")["run"][0]["cid"].startswith("Qm")
    with pytest.raises(NotFoundError):
        reg.get("tiny:3")
    with pytest.raises(NotFoundError):
        reg.get("QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB")
    with pytest.raises(InvalidInputError):
        reg.get("not a ref!")


def test_export_import_between_homes(settings: Settings, packages: tuple[Path, Path], tmp_path: Path) -> None:
    reg = Registry(settings)
    entry = reg.register(packages[0])
    out = reg.export("tiny", tmp_path / "exported.zip")
    assert out.read_bytes() == packages[0].read_bytes()
    other = Registry(load_settings(home=tmp_path / "other-home"))
    assert other.register(out).cid == entry.cid


def test_tampered_package_is_not_registered(settings: Settings, packages: tuple[Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    data = bytearray(packages[0].read_bytes())
    data[-200] ^= 0xFF
    bad.write_bytes(bytes(data))
    reg = Registry(settings)
    with pytest.raises(IntegrityError):
        reg.register(bad)
    with pytest.raises(IntegrityError, match="CID"):
        reg.register(packages[0], cid=cid_of_file(packages[1]))
    assert reg.list() == [] and list(reg.store.list()) == []


def test_cached_copy_is_refetched_when_altered(settings: Settings, packages: tuple[Path, Path]) -> None:
    reg = Registry(settings)
    entry = reg.register(packages[0])
    _, cached = reg.local_path(entry.cid)
    cached.write_bytes(b"garbage")
    _, again = reg.local_path(entry.cid)
    assert cid_of_file(again) == entry.cid
    assert reg.scorer("tiny").classify(np.zeros((3, 16, 16), np.float32)).shape == (16, 16)


def test_cli(settings: Settings, packages: tuple[Path, Path], tmp_path: Path) -> None:
    home = ["--home", str(settings.home)]
    v1, v2 = packages
    res = runner.invoke(app, [*home, "model", "verify", str(v1), "--cid", cid_of_file(v1)])
    assert res.exit_code == 0 and "signature by owner" in res.stdout, res.output
    for pkg in (v1, v2):
        assert runner.invoke(app, [*home, "model", "register", str(pkg)]).exit_code == 0
    listed = json.loads(runner.invoke(app, [*home, "model", "list", "--json"]).stdout)
    assert [(e["name"], e["version"]) for e in listed] == [("tiny", 1), ("tiny", 2)]
    table = runner.invoke(app, [*home, "model", "list"], terminal_width=250).stdout
    assert "0.7500" in table and "0.5000" in table
    shown = " ".join(runner.invoke(app, [*home, "model", "show", "tiny:1"]).stdout.split())
    assert "versions of tiny" in shown and "not here" in shown and "red, green, blue" in shown
    assert json.loads(runner.invoke(app, [*home, "model", "show", "tiny", "--json"]).stdout)["version"] == 2
    assert runner.invoke(app, [*home, "model", "verify", "tiny:1"]).exit_code == 0
    out = tmp_path / "out.zip"
    assert runner.invoke(app, [*home, "model", "export", "tiny:1", "-o", str(out)]).exit_code == 0
    other = ["--home", str(tmp_path / "other")]
    res = runner.invoke(app, [*other, "model", "import", str(out), "--json"])
    assert json.loads(res.stdout)["cid"] == cid_of_file(v1)

    scene = tmp_path / "scene.tif"
    with rasterio.open(
        scene,
        "w",
        driver="GTiff",
        width=90,
        height=70,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=Affine(10, 0, 0, 0, -10, 0),
    ) as dst:
        dst.write(np.random.default_rng(0).integers(0, 255, (3, 70, 90)).astype(np.uint8))
    res = runner.invoke(app, [*home, "model", "score", "tiny", str(scene), "-o", str(tmp_path / "c.tif"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{") :])
    assert summary["width"] == 90 and summary["tiles"] == 4

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        np.save(frames / f"f{i}.npy", np.random.default_rng(i).integers(0, 255, (3, 24, 24)).astype(np.uint8))
    res = runner.invoke(
        app,
        [
            *home,
            "model",
            "stream",
            "tiny",
            "--watch",
            str(frames),
            "--idle-timeout",
            "1",
            "--out",
            str(tmp_path / "scored"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["scored"] == 3 and len(list((tmp_path / "scored").glob("*.tif"))) == 3


def test_cli_errors(settings: Settings, packages: tuple[Path, Path], tmp_path: Path) -> None:
    home = ["--home", str(settings.home)]
    bad = tmp_path / "bad.zip"
    shutil.copy(packages[0], bad)
    res = runner.invoke(app, [*home, "model", "verify", str(bad), "--cid", cid_of_file(packages[1])])
    assert isinstance(res.exception, IntegrityError)
    res = runner.invoke(app, [*home, "model", "show", "nothing"])
    assert isinstance(res.exception, NotFoundError)


def _checkpoint(path: Path, architecture: str) -> Path:
    """A checkpoint as the trainer writes it (eotrust.ml.train), for a tile or a pixel model."""
    import torch

    from eotrust.ml.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
    from eotrust.ml.models import build_model

    torch.manual_seed(0)
    pixel = architecture == "temporal_cnn"
    params = (
        {"hidden": 8, "layers": 1, "kernel_size": 3}
        if pixel
        else {"widths": [16, 32, 64], "stage1_repeats": 1, "encoder_stages": 1}
    )
    dates = ["2017-01-01", "2017-02-01", "2017-03-01", "2017-04-01"]
    cube_bands = ["ndvi", "vv"]
    channels = 2 if pixel else 8
    model = build_model(architecture, channels, 3, params)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "name": f"lc-{architecture}",
        "description": "test",
        "model_def": {
            "format": "eotrust-model-def/1",
            "name": f"lc-{architecture}",
            "architecture": architecture,
            "params": params,
        },
        "in_channels": channels,
        "num_classes": 3,
        "input_kind": "pixel" if pixel else "tile",
        "input_layout": "NCT" if pixel else "NCHW",
        "classes": ["forest", "grass", "town"],
        "class_codes": [2, 3, 8],
        "colours": ["#228b22", "#9acd32", "#ff0000"],
        "bands": cube_bands if pixel else [f"{b}@{d}" for d in dates for b in cube_bands],
        "cube_bands": cube_bands,
        "dates": dates,
        "timesteps": 4,
        "tile_size": 32,
        "normalisation": {"mean": [0.5] * channels, "std": [0.2] * channels},
        "metrics": {"validation": {"pixel_accuracy": 0.8, "miou": 0.6}},
        "train_params": {"epochs": 2},
        "dataset_cid": "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB",
    }
    return save_checkpoint(path, model, meta)


@pytest.mark.parametrize("architecture", ["temporal_cnn", "enet"])
def test_register_a_training_checkpoint(settings: Settings, tmp_path: Path, architecture: str) -> None:
    from eotrust.party import create_party

    home = ["--home", str(settings.home)]
    algo = create_party(settings, "algo", "algorithm-owner", passphrase="test-passphrase", scrypt_n=1024)
    ckpt = _checkpoint(tmp_path / "model.pt", architecture)
    res = runner.invoke(
        app,
        [
            *home,
            "model",
            "register",
            str(ckpt),
            "--as",
            "algo",
            "--exporter",
            "torchscript",
            "--run",
            "QmXLQfjNjP75aKmD9mx3Ay4emaLXSCE2jD4pEbjEFu3ray",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    entry = json.loads(res.stdout[res.stdout.index("{") :])
    assert entry["owner"] == algo.address and entry["name"] == f"lc-{architecture}"
    assert entry["lineage"]["checkpoint"] == cid_of_file(ckpt)
    assert entry["lineage"]["run"] == "QmXLQfjNjP75aKmD9mx3Ay4emaLXSCE2jD4pEbjEFu3ray"
    reg = Registry(settings)
    m = reg.get(entry["cid"]).manifest
    assert m is not None and [c.code for c in m.classes] == [2, 3, 8] and m.classes[0].colour == "#228b22"
    assert m.input.bands[:3] == ["ndvi@2017-01-01", "vv@2017-01-01", "ndvi@2017-02-01"]  # date-major
    assert m.metrics["validation"]["miou"] == 0.6
    scorer = reg.scorer(entry["cid"])
    cube = np.random.default_rng(0).random((8, 40, 24)).astype(np.float32)  # 4 dates x 2 bands
    assert scorer.score_block(cube).shape == (3, 40, 24)
    if architecture == "temporal_cnn":
        assert m.input.layout == "NCT" and m.input.timesteps == 4 and m.input.channels == 2
    else:
        assert m.input.layout == "NCHW" and m.input.spatial_multiple == 8 and m.input.tile_size == 32


def test_metrics_side_by_side() -> None:
    from eotrust.ml.registry import ModelEntry, metrics_table

    def entry(version: int, metrics: dict[str, Any]) -> ModelEntry:
        return ModelEntry("Qm", "m", version, "", "0x", "enet", "", "", 0, "", metrics=metrics)

    names, rows = metrics_table(
        [
            entry(1, {"validation": {"miou": 0.5, "per_class_iou": [0.1]}, "epochs": 3}),
            entry(2, {"validation": {"miou": 0.7, "pixel_accuracy": 0.9}, "ok": True}),
        ]
    )
    assert names == ["validation.miou", "epochs", "validation.pixel_accuracy"]
    assert rows == [[0.5, 3, None], [0.7, None, 0.9]]


def test_same_checkpoint_same_package(tmp_path: Path) -> None:
    import os

    from eotrust.ml.onnx_export import package_checkpoint
    from eotrust.ml.package import read_package

    ckpt = _checkpoint(tmp_path / "model.pt", "temporal_cnn")
    os.utime(ckpt, (1_500_000_000, 1_500_000_000))
    a = package_checkpoint(ckpt, OWNER, tmp_path / "a.zip", method="torchscript")
    b = package_checkpoint(ckpt, OWNER, tmp_path / "b.zip", method="torchscript")
    assert cid_of_file(a) == cid_of_file(b)  # the time is the checkpoint's, never "now"
    assert read_package(a).manifest.created == "2017-07-14T02:40:00Z"


def test_concurrent_registrations_get_distinct_versions(
    settings: Settings, tmp_path: Path, tiny_enet_zip: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pkgs = [repackaged(tiny_enet_zip, tmp_path / f"p{i}.zip", created=f"2024-05-0{i + 1}T12:00:00Z") for i in range(4)]
    assert len({cid_of_file(p) for p in pkgs}) == 4
    Registry(settings)  # tables created once
    with ThreadPoolExecutor(4) as pool:
        entries = list(pool.map(lambda p: Registry(settings).register(p), pkgs))
    assert sorted(e.version for e in entries) == [1, 2, 3, 4]


def test_a_name_is_its_first_owners_a_stranger_cannot_add_versions(
    settings: Settings, packages: tuple[Path, Path], tmp_path: Path
) -> None:
    """Attack (name squatting): another party registered a package under a name it did not
    own, as that name's next version, so `model score NAME`, POST /models/NAME/predict and API
    keys scoped to NAME reached the stranger's model. A name's versions now share one owner: a
    package of another owner under it is refused, in one line, and nothing is registered."""
    from eth_account import Account

    registry = Registry(settings)
    mine = registry.register(packages[0])
    stranger = Account.create()
    squat = tiny_enet_package(tmp_path / "squat.zip", account=stranger, created="2024-07-01T12:00:00Z")
    with pytest.raises(InvalidInputError, match=f"model name tiny belongs to {OWNER.address}"):
        registry.register(squat)
    assert registry.get("tiny") == mine and [e.version for e in registry.versions("tiny")] == [1]
    assert not registry.store.has(cid_of_file(squat))  # refused before the store took its bytes
    other = tiny_enet_package(tmp_path / "other.zip", account=stranger, name="strangers-tiny")
    assert registry.register(other).version == 1  # its own name is the stranger's to use
