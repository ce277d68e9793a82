"""The model registry and `eotrust model …`: versions, lineage, export/import, verify, score, stream."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from tiny_models import OWNER, tiny_enet_package
from typer.testing import CliRunner

from eotrust.cid import cid_of_file, to_v1
from eotrust.cli.main import app
from eotrust.errors import IntegrityError, InvalidInputError, NotFoundError
from eotrust.ml.registry import Registry, list_models
from eotrust.settings import Settings, load_settings

runner = CliRunner()


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("reg")
    v1 = tiny_enet_package(d / "v1.zip")
    v2 = tiny_enet_package(d / "v2.zip", metrics={"pixel_accuracy": 0.75, "miou": 0.5},
                           created="2024-06-01T12:00:00Z", lineage={"run": "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"})
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
    assert "versions of tiny" in shown and "not in this store" in shown and "red, green, blue" in shown
    assert json.loads(runner.invoke(app, [*home, "model", "show", "tiny", "--json"]).stdout)["version"] == 2
    assert runner.invoke(app, [*home, "model", "verify", "tiny:1"]).exit_code == 0
    out = tmp_path / "out.zip"
    assert runner.invoke(app, [*home, "model", "export", "tiny:1", "-o", str(out)]).exit_code == 0
    other = ["--home", str(tmp_path / "other")]
    res = runner.invoke(app, [*other, "model", "import", str(out), "--json"])
    assert json.loads(res.stdout)["cid"] == cid_of_file(v1)

    scene = tmp_path / "scene.tif"
    with rasterio.open(scene, "w", driver="GTiff", width=90, height=70, count=3, dtype="uint8", crs="EPSG:32633",
                       transform=Affine(10, 0, 0, 0, -10, 0)) as dst:
        dst.write(np.random.default_rng(0).integers(0, 255, (3, 70, 90)).astype(np.uint8))
    res = runner.invoke(app, [*home, "model", "score", "tiny", str(scene), "-o", str(tmp_path / "c.tif"), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["width"] == 90 and summary["tiles"] == 4

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        np.save(frames / f"f{i}.npy", np.random.default_rng(i).integers(0, 255, (3, 24, 24)).astype(np.uint8))
    res = runner.invoke(app, [*home, "model", "stream", "tiny", "--watch", str(frames), "--idle-timeout", "1",
                              "--out", str(tmp_path / "scored"), "--json"])
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

