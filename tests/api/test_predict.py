"""`POST /models/{cid}/predict` (the app in process): arrays and GeoTIFFs in, class maps out,
behind API keys; bad requests get a clear 4xx and the server keeps serving. The same 2 GB
refusal over a real socket is in test_server_process.py."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np
import pytest
from affine import Affine
from api_client import base_url, in_process, post_streamed
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile

from eotrust.catalog.api_keys import create_api_key, revoke_api_key
from eotrust.ml.registry import Registry
from eotrust.ml.scoring.batch import Scorer
from eotrust.settings import load_settings

NPY = {"Content-Type": "application/x-npy"}


class PredictWorld(TypedDict):
    """The module's app: the model's predict URL, its CID, API keys and the client."""

    url: str
    base: str
    cid: str
    good: str  # scoped to the model's CID
    by_name: str  # scoped to its name
    other: str  # scoped to another model
    revoked: str
    client: TestClient
    scorer: Scorer  # the package scored locally, for the expected answers


@pytest.fixture(scope="module")
def package(tiny_enet_zip: Path) -> Path:
    return tiny_enet_zip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, package: Path) -> Iterator[PredictWorld]:
    """One app for the module (requests do not change its state)."""
    home = tmp_path_factory.mktemp("predict-server") / "home"
    settings = load_settings(home=home)
    entry = Registry(settings).register(package)
    good, _ = create_api_key(settings, party=None, scopes=[entry.cid])
    by_name, _ = create_api_key(settings, party=None, scopes=["tiny"])
    other, _ = create_api_key(settings, party=None, scopes=["some-other-model"])
    revoked, info = create_api_key(settings, party=None, scopes=["*"])
    revoke_api_key(settings, info.id)
    with in_process(load_settings(home=home, max_upload_mb=1)) as client:
        yield {
            "url": f"/models/{entry.cid}/predict",
            "base": base_url(client),
            "cid": entry.cid,
            "good": good,
            "by_name": by_name,
            "other": other,
            "revoked": revoked,
            "client": client,
            "scorer": Scorer.from_file(package),
        }


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def geotiff(data: np.ndarray, crs: str | None = "EPSG:32633") -> bytes:
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "transform": Affine(10, 0, 400000, 0, -10, 5000000),
    }
    if crs:
        profile["crs"] = crs
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
        return cast(bytes, mem.read())  # rasterio is untyped


def http(world: PredictWorld) -> TestClient:
    return world["client"]


def alive(world: PredictWorld) -> None:
    assert http(world).get("/conformance").status_code == 200


def test_array_geotiff_and_json(world: PredictWorld) -> None:
    x = np.random.default_rng(0).integers(0, 255, (3, 40, 56)).astype(np.uint8)
    r = http(world).post(world["url"], content=npy(x), headers={**NPY, "X-API-Key": world["good"]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-npy" and r.headers["x-model-cid"] == world["cid"]
    classes = np.load(io.BytesIO(r.content))
    np.testing.assert_array_equal(classes, world["scorer"].classify(x))

    batch = np.stack([x, x[:, ::-1].copy()])
    r = http(world).post(
        world["url"] + "?probabilities=true",
        content=npy(batch),
        headers={**NPY, "Authorization": f"Bearer {world['by_name']}"},
    )
    assert r.status_code == 200 and np.load(io.BytesIO(r.content)).shape == (2, 4, 40, 56)

    r = http(world).post(
        world["url"], content=geotiff(x), headers={"Content-Type": "image/tiff", "X-API-Key": world["good"]}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/tiff"
    with MemoryFile(r.content) as mem, mem.open() as ds:
        assert ds.crs.to_string() == "EPSG:32633" and ds.transform == Affine(10, 0, 400000, 0, -10, 5000000)
        assert ds.read(1).shape == (40, 56)

    r = http(world).post(
        world["url"] + "?probabilities=true", json={"data": x[:, :8, :8].tolist()}, headers={"X-API-Key": world["good"]}
    )
    doc = r.json()
    assert r.status_code == 200 and doc["shape"] == [8, 8] and doc["class_names"][0] == "water"
    assert np.allclose(np.sum(doc["probabilities"], axis=0), 1, atol=1e-4)


def test_keys(world: PredictWorld) -> None:
    body = npy(np.zeros((3, 16, 16), np.uint8))
    for headers in ({}, {"X-API-Key": "eot_wrong"}, {"X-API-Key": world["revoked"]}, {"Authorization": "Basic abc"}):
        r = http(world).post(world["url"], content=body, headers={**NPY, **headers})
        assert r.status_code == 401, (headers, r.text)
        assert "WWW-Authenticate" in r.headers
    r = http(world).post(world["url"], content=body, headers={**NPY, "X-API-Key": world["other"]})
    assert r.status_code == 403 and "not scoped" in r.json()["detail"]
    r = http(world).post(
        "/models/QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB/predict",
        content=body,
        headers={**NPY, "X-API-Key": world["good"]},
    )
    assert r.status_code == 404
    alive(world)


@pytest.mark.parametrize(
    ("body", "ctype", "status", "message"),
    [
        (npy(np.zeros((4, 16, 16), np.uint8)), "application/x-npy", 400, "4 bands"),
        (npy(np.zeros((3, 16, 16), np.complex64)), "application/x-npy", 400, "dtype complex64"),
        (npy(np.array([{"a": 1}], dtype=object)), "application/x-npy", 400, "not a valid .npy"),
        (b"\x93NUMPY garbage", "application/x-npy", 400, "not a valid .npy"),
        (npy(np.zeros((16, 16), np.uint8)), "application/x-npy", 400, "(C, H, W)"),
        (geotiff(np.zeros((3, 16, 16), np.uint8), crs=None), "image/tiff", 400, "no CRS"),
        (b"II*\x00 not really a tiff", "image/tiff", 400, "not a readable GeoTIFF"),
        (b'{"data": [[1, 2], [3]]}', "application/json", 400, "JSON body"),
        (b'{"data": "abc"}', "application/json", 400, "dtype"),
        (b"hello", "text/plain", 415, "not accepted"),
        (b"", "application/x-npy", 400, "no body"),
    ],
)
def test_malformed_inputs(world: PredictWorld, body: bytes, ctype: str, status: int, message: str) -> None:
    r = http(world).post(world["url"], content=body, headers={"Content-Type": ctype, "X-API-Key": world["good"]})
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    alive(world)


def test_two_gigabytes_are_refused_before_reading(world: PredictWorld) -> None:
    """A declared 2 GB body is refused from its Content-Length: the app reads no byte of it."""
    two_gb = (b"\0" * (256 * 1024) for _ in range(8 * 1024))
    r, pulled = post_streamed(
        http(world),
        world["url"],
        two_gb,
        headers={**NPY, "X-API-Key": world["good"], "Content-Length": str(2 * 1024**3)},
    )
    assert r.status_code == 413, r.text
    assert "limit" in r.text
    assert pulled == 0
    alive(world)


def test_chunked_upload_is_cut_off_at_the_limit(world: PredictWorld) -> None:
    """No Content-Length (chunked): the server stops reading once the body passes the limit."""
    would_be_2_gib = (b"\0" * (256 * 1024) for _ in range(8 * 1024))
    r, sent = post_streamed(http(world), world["url"], would_be_2_gib, headers={**NPY, "X-API-Key": world["good"]})
    assert r.status_code == 413
    assert sent < 64 * 1024 * 1024
    alive(world)


def test_concurrent_clients(world: PredictWorld) -> None:
    x = np.random.default_rng(1).integers(0, 255, (3, 64, 64)).astype(np.uint8)
    expected = world["scorer"].classify(x)

    def call(_: int) -> np.ndarray:
        r = http(world).post(world["url"], content=npy(x), headers={**NPY, "X-API-Key": world["good"]})
        assert r.status_code == 200, r.text
        return cast(np.ndarray, np.load(io.BytesIO(r.content)))  # np.load is typed Any (it may unpickle)

    with ThreadPoolExecutor(8) as pool:
        for classes in pool.map(call, range(16)):
            np.testing.assert_array_equal(classes, expected)
    assert json.loads(http(world).get("/conformance").text)


def test_concurrent_requests_of_mixed_shapes_and_bad_ones(world: PredictWorld) -> None:
    """Concurrent requests for one model are batched together (by shape): each gets its own
    answer, and a bad request among them fails alone, before it reaches a batch."""
    rng = np.random.default_rng(3)
    inputs = [rng.integers(0, 255, (3, 32, 48) if i % 3 else (2, 3, 40, 40)).astype(np.uint8) for i in range(12)]
    inputs += [
        np.zeros((4, 32, 48), np.uint8),
        np.full((3, 32, 48), np.nan, np.float32),
    ]  # wrong bands; no finite value
    expected = [world["scorer"].classify(x) for x in inputs[:12]]

    def call(i: int) -> tuple[int, Any]:
        r = http(world).post(world["url"], content=npy(inputs[i]), headers={**NPY, "X-API-Key": world["good"]})
        return r.status_code, np.load(io.BytesIO(r.content)) if r.status_code == 200 else r.json()["detail"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(len(inputs))))
    for (status, classes), want in zip(answers[:12], expected):
        assert status == 200
        np.testing.assert_array_equal(classes, want)
    assert answers[12][0] == 400 and "4 bands" in answers[12][1]
    assert answers[13][0] == 400 and "no finite value" in answers[13][1]
    alive(world)


def test_npy_bodies_are_read_exactly(world: PredictWorld) -> None:
    """The .npy body is read in place: Fortran order and big-endian arrays score as numpy
    reads them; a body longer or shorter than its header declares is refused."""
    x = np.random.default_rng(4).integers(0, 255, (3, 24, 32)).astype(np.uint16)
    expected = world["scorer"].classify(x)
    for variant in (np.asfortranarray(x), x.astype(">u2")):
        r = http(world).post(world["url"], content=npy(variant), headers={**NPY, "X-API-Key": world["good"]})
        assert r.status_code == 200, r.text
        np.testing.assert_array_equal(np.load(io.BytesIO(r.content)), expected)
    body = npy(x)
    for bad in (body + b"\0", body[:-2]):
        r = http(world).post(world["url"], content=bad, headers={**NPY, "X-API-Key": world["good"]})
        assert r.status_code == 400 and "header declares" in r.json()["detail"], r.text
    alive(world)


def test_truncated_geotiff(world: PredictWorld) -> None:
    """A TIFF whose header opens but whose pixel data is cut off."""
    whole = geotiff(np.random.default_rng(2).integers(0, 255, (3, 64, 64)).astype(np.uint8))
    r = http(world).post(
        world["url"],
        content=whole[: len(whole) // 2],
        headers={"Content-Type": "image/tiff", "X-API-Key": world["good"]},
    )
    assert r.status_code == 400, r.text
    alive(world)


def test_parsing_a_body_leaves_the_server_answering_others(
    world: PredictWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON body was parsed (and the answer rendered) on the event loop: a 42 MB array held
    every other request for 5.4 s (an audit). Here the parse waits until another request has
    been answered; before, it waited in vain (nothing else ran meanwhile)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import eotrust.api.predict as routes

    entered, release = threading.Event(), threading.Event()
    released_by_others: list[bool] = []
    parse = routes._parse_json

    def slow_parse(body: bytes) -> np.ndarray:
        entered.set()
        released_by_others.append(release.wait(30))
        return parse(body)

    monkeypatch.setattr(routes, "_parse_json", slow_parse)
    x = np.zeros((3, 8, 8), np.uint8).tolist()
    with ThreadPoolExecutor(1) as pool:
        posted = pool.submit(http(world).post, world["url"], json={"data": x}, headers={"X-API-Key": world["good"]})
        assert entered.wait(60)
        alive(world)
        release.set()
        assert posted.result(timeout=120).status_code == 200
    assert released_by_others == [True]
