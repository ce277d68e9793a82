"""Model packages as STAC items (with their metrics), and the prediction map's pictures:
a GeoTIFF scored by a registered package, drawn as scene and class-map PNGs of one size."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
from affine import Affine
from api_client import base_url
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile

from eotrust.catalog.api_keys import create_api_key
from eotrust.ml.registry import Registry
from eotrust.party import Role, create_party
from eotrust.settings import load_settings


def _geotiff(data: np.ndarray) -> bytes:
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": "EPSG:32633",
        "transform": Affine(10, 0, 400000, 0, -10, 5000000),
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
        return cast(bytes, mem.read())  # rasterio is untyped


def test_models_in_stac_and_prediction_pictures(
    tmp_path: Path, tiny_enet_zip: Path, api_client_factory: Callable[..., TestClient]
) -> None:
    from PIL import Image

    home = tmp_path / "home"
    settings = load_settings(home=home)
    entry = Registry(settings).register(tiny_enet_zip)
    key, _ = create_api_key(settings, party=create_party(settings, "sam", Role.SUBMITTER), scopes=["*"])
    client = api_client_factory(home)

    items = client.get("/stac/collections/models/items").json()["features"]
    assert [i["id"] for i in items] == [entry.cid]
    assert items[0]["properties"]["eotrust:cid"] == entry.cid
    assert items[0]["assets"]["package"]["href"] == f"{base_url(client)}/store/{entry.cid}"

    scene = np.random.default_rng(0).integers(0, 3000, (3, 40, 56), dtype=np.uint16)
    r = client.post(
        "/render/prediction",
        params={"model": entry.cid},
        content=_geotiff(scene),
        headers={"X-API-Key": key, "Content-Type": "image/tiff"},
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["width"], doc["height"]) == (56, 40)
    pictures = [
        Image.open(io.BytesIO(base64.b64decode(doc[k].split(",", 1)[1]))) for k in ("scene_png", "prediction_png")
    ]
    assert [p.size for p in pictures] == [(56, 40), (56, 40)]
    assert pictures[1].mode == "RGBA" and len(doc["legend"]) >= 2
    r = client.post(
        "/render/prediction", params={"model": entry.cid}, content=b"not a tiff", headers={"X-API-Key": key}
    )
    assert 400 <= r.status_code < 500
    r = client.post("/render/prediction", params={"model": entry.cid}, content=_geotiff(scene))
    assert r.status_code == 401
