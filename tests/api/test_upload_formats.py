"""A "GeoTIFF" uploaded for scoring that is not one: GDAL picks a driver by content, so a VRT
(an XML file naming other rasters) sent to ``POST /models/{cid}/predict`` or ``POST
/render/prediction`` was opened as a VRT. Its sources can be any file the server can read (the
render route draws the scene it read: a data owner's plaintext raster on the server's disk, as
a PNG) or any URL (``/vsicurl/``: the server made the request — a HEAD to the test's listener —
and then hung waiting on it). Uploads are now opened with the GTiff driver only."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from affine import Affine
from api_client import in_process
from rasterio.io import MemoryFile


def vrt(source: str, bands: int = 3) -> bytes:
    band = (
        '<VRTRasterBand dataType="Float32" band="{b}"><SimpleSource>'
        '<SourceFilename relativeToVRT="0">{src}</SourceFilename><SourceBand>1</SourceBand>'
        "</SimpleSource></VRTRasterBand>"
    )
    return (
        '<VRTDataset rasterXSize="64" rasterYSize="64"><SRS>EPSG:32633</SRS>'
        "<GeoTransform>400000, 10, 0, 5000000, 0, -10</GeoTransform>"
        + "".join(band.format(b=b, src=source) for b in range(1, bands + 1))
        + "</VRTDataset>"
    ).encode()


def geotiff(bands: int, seed: int = 0) -> bytes:
    data = np.random.default_rng(seed).integers(0, 255, (bands, 64, 64)).astype(np.float32)
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": bands, "dtype": "float32"}
    with MemoryFile() as mem:
        with mem.open(**profile, crs="EPSG:32633", transform=Affine(10, 0, 400000, 0, -10, 5000000)) as dst:
            dst.write(data)
        return cast(bytes, mem.read())  # rasterio is untyped


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_enet_zip: Path) -> Iterator[dict[str, Any]]:
    from eotrust.catalog.api_keys import create_api_key
    from eotrust.ml.registry import Registry
    from eotrust.party import Role, create_party
    from eotrust.settings import load_settings

    tmp = tmp_path_factory.mktemp("upload-formats")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
        # were a URL fetched (the bug), fail in seconds rather than wait on the silent listener
        mp.setenv("GDAL_HTTP_TIMEOUT", "3")
        mp.setenv("GDAL_HTTP_MAX_RETRY", "0")
        settings = load_settings(home=tmp / "home")
        entry = Registry(settings).register(tiny_enet_zip)
        party = create_party(settings, "sam", Role.SUBMITTER)
        key, _ = create_api_key(settings, party=party, scopes=["*"])
        private = tmp / "someone-elses-raster.tif"  # a file on the server's disk
        private.write_bytes(geotiff(1))
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(0)
        with in_process(settings) as client:
            yield {"client": client, "cid": entry.cid, "key": key, "private": private, "listener": listener}
        listener.close()


def _reached(listener: socket.socket) -> bool:
    try:
        conn, _ = listener.accept()
    except OSError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize("target", ["url", "file"])
def test_predict_opens_only_geotiffs(server: dict[str, Any], target: str) -> None:
    port = server["listener"].getsockname()[1]
    source = f"/vsicurl/http://127.0.0.1:{port}/x.tif" if target == "url" else str(server["private"])
    res = server["client"].post(
        f"/models/{server['cid']}/predict",
        content=vrt(source),
        headers={"X-API-Key": server["key"], "Content-Type": "image/tiff"},
        timeout=30,
    )
    assert res.status_code == 400, res.text[:300]
    assert "not a readable GeoTIFF" in res.json()["detail"]
    assert not _reached(server["listener"])


@pytest.mark.parametrize("target", ["url", "file"])
def test_render_opens_only_geotiffs(server: dict[str, Any], target: str) -> None:
    port = server["listener"].getsockname()[1]
    source = f"/vsicurl/http://127.0.0.1:{port}/x.tif" if target == "url" else str(server["private"])
    res = server["client"].post(
        "/render/prediction",
        params={"model": server["cid"]},
        content=vrt(source),
        headers={"X-API-Key": server["key"]},
        timeout=30,
    )
    assert res.status_code == 400, res.text[:300]
    assert "not a readable GeoTIFF" in res.json()["detail"]
    assert not _reached(server["listener"])


def test_a_real_geotiff_is_still_scored(server: dict[str, Any]) -> None:
    body = geotiff(3, seed=1)
    res = server["client"].post(
        f"/models/{server['cid']}/predict",
        content=body,
        headers={"X-API-Key": server["key"], "Content-Type": "image/tiff"},
    )
    assert res.status_code == 200, res.text[:300]
    drawn = server["client"].post(
        "/render/prediction", params={"model": server["cid"]}, content=body, headers={"X-API-Key": server["key"]}
    )
    assert drawn.status_code == 200, drawn.text[:300]
