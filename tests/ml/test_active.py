"""Active learning: suggestions (most informative first, spread apart), GeoJSON round trip,
refusals on import, warm starts, and rounds stored by CID."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import rasterio
from landcover_world import world
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.eo.labels import ClassList, classes_of
from eotrust.errors import InvalidInputError, ModelError
from eotrust.ml.active import LabelRound, import_labels, informativeness, pick, record_round, suggest, write_suggestions

if TYPE_CHECKING:
    from eotrust.settings import Settings

runner = CliRunner()


def test_pick_is_greedy_and_keeps_its_distance() -> None:
    score = np.zeros((20, 20))
    score[5, 5], score[5, 6], score[5, 12], score[15, 15] = 4, 3, 2, 1
    assert pick(score, 3, min_distance=0) == [(5, 5), (5, 6), (5, 12)]
    assert pick(score, 3, min_distance=3) == [(5, 5), (5, 12), (15, 15)]  # (5, 6) is too close to (5, 5)
    taken = np.zeros_like(score, bool)
    taken[5, 4] = True
    assert pick(score, 1, min_distance=3, taken=taken) == [(5, 12)]  # near an existing label: skipped
    with pytest.raises(InvalidInputError):
        pick(score, 0)


def test_a_distance_past_the_raster_takes_no_memory_for_it() -> None:
    """Found by hand: `label suggest --min-distance 100000` built a (2, 200001, 200001) int64
    grid first (596 GiB: a MemoryError traceback; 10000 took 6.4 GB, 20000 more than this
    machine has), and `--min-distance inf` was an OverflowError traceback. A distance beyond
    the raster's diagonal keeps every pick from every other one: one suggestion, at once."""
    import resource

    score = np.zeros((20, 30))
    score[5, 5], score[15, 25] = 2, 1
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert pick(score, 5, min_distance=1e6) == [(5, 5)]
    assert pick(score, 5, min_distance=1e300) == [(5, 5)]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB
    taken = np.zeros_like(score, bool)
    taken[0, 0] = True
    assert pick(score, 5, min_distance=1e6, taken=taken) == []
    assert pick(score, 5, min_distance=25, taken=taken) == [(15, 25)]  # (5, 5) is 7.1 from (0, 0)
    for bad in (float("inf"), float("nan"), -1.0):
        with pytest.raises(InvalidInputError, match="distance"):
            pick(score, 1, min_distance=bad)


def test_a_raster_too_large_to_rank_in_memory_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """Found by hand: `label suggest` on a sparse 20000 × 20000 cube (58 KB on disk) held every
    class probability of every pixel at once: a MemoryError traceback under a 4 GB cap, and
    without one about 22 GB — more than this machine has. Now the memory is reckoned from the
    raster's size first and a raster that needs more than half the machine is refused."""
    from eotrust.limits import half_of_memory

    side = math.isqrt(half_of_memory() // 8) + 1  # four classes' float32 probabilities: twice the budget
    with rasterio.open(world().cube) as src:
        profile = src.profile | {"width": side, "height": side, "tiled": True, "sparse_ok": True}
        profile |= {"blockxsize": 256, "blockysize": 256, "compress": "deflate"}
        big = tmp_path / "big.tif"
        with rasterio.open(big, "w", **profile) as dst:
            dst.descriptions = src.descriptions
            dst.update_tags(**src.tags())
    with pytest.raises(ModelError, match=r"too large to rank in memory: .* GiB, more than half"):
        suggest(world().model, big, 5)


def test_informativeness_prefers_coin_flips() -> None:
    p = np.array([[0.95, 0.5], [0.05, 0.5]])[:, :, None]  # (K=2, 2, 1)
    for how in ("margin", "entropy"):
        s = informativeness(p, how)
        assert s[1, 0] > s[0, 0]
    with pytest.raises(InvalidInputError):
        informativeness(p, "loudest")  # type: ignore[arg-type]


def _label_all(path: Path, reference: Path) -> None:
    with rasterio.open(reference) as ds:
        ref = ds.read(1)
    doc = json.loads(path.read_text())
    for f in doc["features"]:
        f["properties"]["label"] = int(ref[f["properties"]["row"], f["properties"]["col"]]) or None  # 0: no reference
    doc["features"][0]["properties"]["label"] = None  # one left unlabelled: skipped, counted
    path.write_text(json.dumps(doc))


def test_suggest_import_round_trip_and_round_by_cid(tmp_path: Path, settings: Settings) -> None:
    from eotrust.store import open_store

    w = world()
    picks, grid = suggest(w.model, w.cube, 12, min_distance=4)
    assert len(picks) == 12 and [s.score for s in picks] == sorted((s.score for s in picks), reverse=True)
    rc = np.array([(s.row, s.col) for s in picks])
    d = np.sqrt(((rc[:, None] - rc[None]) ** 2).sum(-1)) + np.eye(len(rc)) * 99
    assert d.min() >= 4
    geo = write_suggestions(picks, grid, tmp_path / "s.geojson", strategy="margin")
    doc = json.loads(geo.read_text())
    lon, lat = doc["features"][0]["geometry"]["coordinates"]
    assert 14 < lon < 15 and 45 < lat < 46  # RFC 7946: WGS 84 longitude, latitude
    _label_all(geo, w.labels)
    classes = classes_of(w.labels)
    assert classes is not None
    rep = import_labels(geo, w.cube, tmp_path / "l.tif", classes=classes)
    assert rep.labelled_features + rep.skipped_unlabelled == 12 and rep.skipped_unlabelled >= 1
    assert rep.total_pixels == rep.labelled_features
    with rasterio.open(tmp_path / "l.tif") as got, rasterio.open(w.labels) as ref:
        a, b = got.read(1), ref.read(1)
    assert ((a == b) | (a == 0)).all() and (a > 0).sum() == rep.labelled_features  # each label on its own pixel
    # next round: suggestions keep away from what is labelled, and labels accumulate
    again, _ = suggest(w.model, w.cube, 5, min_distance=4, labelled=tmp_path / "l.tif")
    assert all(np.sqrt(((rc[1:] - (s.row, s.col)) ** 2).sum(-1)).min() >= 4 for s in again)
    store = open_store(settings)
    cid, rec = record_round(
        store,
        labelled=geo,
        labels=tmp_path / "l.tif",
        labelled_pixels=11,
        suggestions=geo,
        suggested_by=w.model,
        strategy="margin",
    )
    cid2, rec2 = record_round(store, labelled=geo, labels=tmp_path / "l.tif", labelled_pixels=11, parent=cid)
    assert rec.round == 0 and rec2.round == 1 and rec2.parent == cid
    assert LabelRound.model_validate_json(store.get_bytes(cid2)).labels == rec.labels
    with pytest.raises(InvalidInputError, match="not a label round") as err:
        record_round(store, labelled=geo, labels=tmp_path / "l.tif", labelled_pixels=1, parent=rec.labels)
    assert "\n" not in str(err.value) and "Invalid JSON" in err.value.message  # what is wrong, not "1 validation error"


@pytest.fixture(scope="module")
def random_suggestions(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three random suggestions of the world's model (3 x 3 patches), labelled forest: the
    GeoJSON text every refusal below mutates (a string: each test writes its own copy)."""
    w = world()
    picks, grid = suggest(w.model, w.cube, 3, strategy="random")
    geo = write_suggestions(picks, grid, tmp_path_factory.mktemp("random") / "s.geojson", strategy="random", patch=3)
    doc = json.loads(geo.read_text())
    for f in doc["features"]:
        f["properties"]["label"] = "forest"
    return json.dumps(doc)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(type="Feature"), "FeatureCollection"),
        (lambda d: d["features"][0]["properties"].update(label="lava"), "lava"),
        (lambda d: d["features"][0]["properties"].update(label=9), "code 9"),
        # a digit that is no ASCII digit, and a number too long for int(): tracebacks before
        (lambda d: d["features"][0]["properties"].update(label="²"), "²"),
        (lambda d: d["features"][0]["properties"].update(label="9" * 5000), "a label of 5000 characters"),
        (
            lambda d: d["features"][0].update(geometry={"type": "Point", "coordinates": [10.0, 40.0]}),
            "outside the raster",
        ),
        (lambda d: d["features"][0].update(geometry=None), "Point or Polygon"),
        # all geometries are reprojected at once; a bad one is then found feature by feature
        (
            lambda d: d["features"][0].update(geometry={"type": "Point", "coordinates": ["a", "b"]}),
            "feature 0 of .* has an invalid geometry",
        ),
    ],
)
def test_bad_labelled_geojson_is_refused_and_nothing_written(
    tmp_path: Path, random_suggestions: str, mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    w = world()
    doc = json.loads(random_suggestions)
    mutate(doc)
    geo = tmp_path / "s.geojson"
    geo.write_text(json.dumps(doc))
    with pytest.raises(InvalidInputError, match=message):
        import_labels(geo, w.cube, tmp_path / "l.tif", classes=ClassList.parse("2 forest,3 grassland"))
    assert not (tmp_path / "l.tif").exists()


def test_cli_suggest_import_and_warm_start(tmp_path: Path, settings: Settings) -> None:
    from eotrust.eo.dataset import TrainingDataset, build_dataset
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.train import train

    w = world()
    home = ["--home", str(settings.home)]
    r = runner.invoke(
        app,
        [
            *home,
            "label",
            "suggest",
            "--model",
            str(w.model),
            "--raster",
            str(w.cube),
            "-n",
            "30",
            "--patch",
            "3",
            "-o",
            str(tmp_path / "s.geojson"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    _label_all(tmp_path / "s.geojson", w.labels)
    import_into_l = [*home, "label", "import", str(tmp_path / "s.geojson"), "--like", str(w.cube)]
    import_into_l += [
        "-o",
        str(tmp_path / "l.tif"),
        "--classes",
        "2 forest,3 grassland,4 shrubland,8 artificial surface",
    ]
    r = runner.invoke(
        app, [*import_into_l, "--suggestions", str(tmp_path / "s.geojson"), "--model", str(w.model), "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["round"].startswith(("Qm", "b")) and out["total_pixels"] > 29 * 3  # 3 x 3 patches
    # a parent that is no label round is refused before -o is touched (it was replaced first)
    from eotrust.store import open_store

    store = open_store(settings)
    before = (tmp_path / "l.tif").read_bytes()
    good = json.loads(store.get_bytes(out["round"]))
    for bogus in (b'{"foo": 1}', json.dumps({**good, "round": 10**7}).encode()):
        r = runner.invoke(app, [*import_into_l, "--parent", store.put_bytes(bogus)])
        assert isinstance(r.exception, InvalidInputError) and "is not a label round" in str(r.exception), r.output
        assert (tmp_path / "l.tif").read_bytes() == before
    r = runner.invoke(
        app,
        [*home, "label", "import", str(tmp_path / "s.geojson"), "--like", str(w.cube), "-o", str(tmp_path / "x.tif")],
    )
    assert r.exit_code != 0 and isinstance(r.exception, InvalidInputError) and "--classes" in str(r.exception)
    # training continues from the model on the imported labels (same classes kept by keep_absent)
    build_dataset(
        w.cube,
        tmp_path / "l.tif",
        tmp_path / "d.zip",
        tile_size=10,
        fractions=(1.0, 0.0, 0.0),
        classes=ClassList.parse("2 forest,3 grassland,4 shrubland,8 artificial surface"),
        keep_absent=True,
    )
    md = load_model_def("temporal_cnn_quick").with_training(epochs=1)
    with TrainingDataset(tmp_path / "d.zip") as ds:
        train(ds, md, tmp_path / "m.pt", init_from=w.model)
        with pytest.raises(ModelError, match="cannot continue"):
            train(ds, load_model_def("temporal_cnn").with_training(epochs=1), tmp_path / "n.pt", init_from=w.model)
