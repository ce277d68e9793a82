"""The demo's model, end to end: the land-cover application trains its temporal classifier on
the packaged Slovenian sample; the checkpoint becomes a signed package that verifies, scores
the whole scene to the same map as the application's own PyTorch prediction, serves over REST
behind an API key, and scores a stream of image chips."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio

from eotrust.catalog.api_keys import create_api_key
from eotrust.ml import landcover
from eotrust.ml.onnx_export import package_checkpoint
from eotrust.ml.package import verify_package
from eotrust.ml.registry import Registry
from eotrust.ml.scoring.scene import score_scene
from eotrust.ml.scoring.stream import FolderSink, ListSource, ModelReader, StreamPipeline
from eotrust.party import create_party
from eotrust.settings import Settings, load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_server import start_server  # noqa: E402
from model_codes import codes_of  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("demo-model")
    data = landcover.sample_data()
    cube, labels, dataset, model = (work / n for n in ("cube.tif", "labels.tif", "dataset.zip", "model.pt"))
    landcover.prepare(
        {"ndvi": data / "ndvi.tif", "cloud_mask": data / "cloud_mask.tif", "lulc": data / "lulc.tif"},
        {"cube": cube, "labels": labels},
        {},
    )
    landcover.dataset({"cube": cube, "labels": labels}, {"dataset": dataset}, {"tile_size": 10})
    landcover.train({"dataset": dataset}, {"model": model}, {"quick": True, "epochs": 3, "seed": 0})
    reference = work / "reference.tif"
    landcover.predict({"model": model, "cube": cube}, {"classes": reference}, {})
    return {"cube": cube, "model": model, "reference": reference, "work": work}


@pytest.fixture(scope="module")
def registered(trained: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("demo-home") / "home"
    settings = load_settings(home=home)
    owner = create_party(settings, "algo", "algorithm-owner", passphrase="test-passphrase", scrypt_n=1024)
    package = package_checkpoint(
        trained["model"],
        owner.account,
        trained["work"] / "landcover.zip",
        run="QmXLQfjNjP75aKmD9mx3Ay4emaLXSCE2jD4pEbjEFu3ray",
    )
    entry = Registry(settings).register(package)
    return {"settings": settings, "package": package, "entry": entry, "owner": owner}


def test_signed_package_verifies(registered: dict[str, Any]) -> None:
    report = verify_package(registered["package"], cid=registered["entry"].cid, owner=registered["owner"].address)
    assert report.owner == registered["owner"].address
    m = registered["entry"].manifest
    assert m.algorithm == "temporal_cnn" and m.input.layout == "NCT" and m.input.timesteps == 68
    assert [c.code for c in m.classes] == [2, 3, 4, 8]
    assert m.lineage.training_data and m.lineage.checkpoint and m.lineage.run
    assert m.metrics["validation"]["mean_iou"] > 0.3


def test_scene_matches_the_applications_prediction(trained: dict[str, Path], registered: dict[str, Any]) -> None:
    scorer = Registry(registered["settings"]).scorer(registered["entry"].cid)
    out = trained["work"] / "classes.tif"
    result = score_scene(scorer, trained["cube"], out, probabilities=trained["work"] / "probs.tif")
    with rasterio.open(out) as ours, rasterio.open(trained["reference"]) as ref, rasterio.open(trained["cube"]) as cube:
        assert ours.crs == ref.crs == cube.crs and ours.transform == cube.transform
        assert (ours.width, ours.height) == (result.width, result.height) == (cube.width, cube.height)
        agree = ours.read(1) == ref.read(1)  # scene maps hold label codes, like the workflow's
    assert agree.mean() > 0.999


def test_package_carries_its_preprocessing(trained: dict[str, Path], registered: dict[str, Any]) -> None:
    """A raw NDVI series plus its cloud mask scores to the workflow's class map; the raw series
    alone is refused (it would be misread: the seed scored it 99.9 % grassland, silently)."""
    from eotrust.errors import InvalidInputError

    prep = registered["entry"].manifest.preprocessing
    assert prep is not None and prep.cloud_mask and prep.gap_fill == "interpolate" and len(prep.dates) == 68
    scorer = Registry(registered["settings"]).scorer(registered["entry"].cid)
    raw, mask = landcover.sample_data() / "ndvi.tif", landcover.sample_data() / "cloud_mask.tif"
    out = trained["work"] / "raw-classes.tif"
    with pytest.raises(InvalidInputError, match="cloud-masked"):
        score_scene(scorer, raw, out)
    assert not out.exists()
    result = score_scene(scorer, raw, out, cloud_mask=mask)
    assert result.warnings == ()
    with rasterio.open(out) as ours, rasterio.open(trained["reference"]) as ref:
        assert (ours.read(1) == ref.read(1)).mean() > 0.999
    with pytest.raises(InvalidInputError, match="no cloud mask"):
        score_scene(scorer, trained["cube"], trained["work"] / "x.tif", cloud_mask=mask)
    # an input unlike the training data (NDVI scaled by 10 000, as some products store it) is flagged
    scaled = trained["work"] / "scaled.tif"
    with rasterio.open(trained["cube"]) as src:
        profile, data, tags, desc = src.profile, src.read(), src.tags(), src.descriptions
    with rasterio.open(scaled, "w", **profile) as dst:
        dst.write(data * 10_000)
        dst.update_tags(**tags)
        dst.descriptions = desc
    flagged = score_scene(scorer, scaled, trained["work"] / "scaled-classes.tif")
    assert flagged.warnings and "unlike the training data" in flagged.warnings[0]
    with rasterio.open(trained["work"] / "scaled-classes.tif") as ds:
        assert "unlike the training data" in ds.tags()["warnings"]


def test_served_over_rest_and_streamed(trained: dict[str, Path], registered: dict[str, Any]) -> None:
    settings: Settings = registered["settings"]
    entry = registered["entry"]
    secret, _ = create_api_key(settings, party=None, scopes=[entry.name])
    server = start_server(settings.home)
    try:
        r = httpx.post(
            f"{server.url}/models/{entry.cid}/predict",
            content=trained["cube"].read_bytes(),
            headers={"Content-Type": "image/tiff", "X-API-Key": secret},
            timeout=120,
        )
        assert r.status_code == 200, r.text
        with rasterio.MemoryFile(r.content) as mem, mem.open() as served, rasterio.open(trained["reference"]) as ref:
            assert served.crs == ref.crs and served.transform == ref.transform
            assert (served.read(1) == ref.read(1)).mean() > 0.999
        raw = (landcover.sample_data() / "ndvi.tif").read_bytes()  # raw and cloudy: refused, not misread
        r = httpx.post(
            f"{server.url}/models/{entry.cid}/predict",
            content=raw,
            headers={"Content-Type": "image/tiff", "X-API-Key": secret},
            timeout=120,
        )
        assert r.status_code == 400 and "cloud" in r.text, r.text
        r = httpx.post(
            f"{server.url}/models/{entry.cid}/predict",
            content=trained["cube"].read_bytes(),
            headers={"Content-Type": "image/tiff"},
            timeout=60,
        )
        assert r.status_code == 401
    finally:
        server.stop()

    with rasterio.open(trained["cube"]) as cube:
        data = cube.read()
    chips = [data[:, y : y + 20, x : x + 20] for y in (0, 20, 40) for x in (0, 20, 40, 60)]
    sink = FolderSink(trained["work"] / "stream", as_npy=True)
    scorer = Registry(settings).scorer(entry.cid)
    stats = StreamPipeline(ListSource(chips), ModelReader(scorer), window=16, sink=sink).run()
    assert stats.scored == 12 and stats.errors == 0 and stats.fps > 0
    with rasterio.open(trained["reference"]) as ref:
        expected = ref.read(1)
    first = np.load(sink.written[0])
    assert (codes_of(first, entry) == expected[:20, :20]).mean() > 0.99
