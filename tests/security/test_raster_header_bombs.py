"""Attack: a raster of 64 x 64 px whose header declares one block of 32,768 x 32,768 px per band
— under 1 KB on disk, 1 GiB a band once GDAL decodes the block to read any pixel of it. ``open_raster`` refused
it (``check_layout``), but the readers that opened rasters with ``rasterio.open`` directly did
not: on the old code ``POST /models/{cid}/predict`` and ``POST /render/prediction`` scored it
(200; the server's peak memory rose by gigabytes per request, the decoded size of 12 KiB passing
every bound of the upload), ``eotrust model score`` read it the same way, and ``eotrust catalog
register-dataset`` registered it. Every one now refuses it from its header
(:func:`eotrust.limits.check_raster_layout`), before a pixel is read."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_client import in_process  # noqa: E402
from measured_cli import measured_cli, one_line_refusal  # noqa: E402
from sparse_rasters import sparse_raster  # noqa: E402

from eotrust.catalog.api_keys import create_api_key  # noqa: E402
from eotrust.ml.registry import Registry  # noqa: E402
from eotrust.party import Role, create_party  # noqa: E402
from eotrust.settings import load_settings  # noqa: E402

MIB = 1024 * 1024


def block_bomb(path: Path, *, side: int = 64, block: int = 32_768) -> Path:
    """A GeoTIFF of three bands (the test model's) of ``side`` x ``side`` px holding no block
    (sparse), whose one block per band is ``block`` x ``block`` px of uint8: 1 GiB each."""
    sparse_raster(path, side, side, block=block, count=3, interleave="band", bigtiff="no")
    assert path.stat().st_size < 1_000
    return path


def _peak_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) >> 10
    raise AssertionError("no VmHWM")


def _reset_peak() -> int:
    """The peak resident size starts again from now (Linux); what it is now, in MiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _peak_mib()


def _cli(home: Path, *args: str) -> tuple[int, str, str, int]:
    """``(exit status, stdout, stderr, peak MiB)`` of ``eotrust --home HOME ARGS`` in a child."""
    code, out, err, peak_kib = measured_cli(home, *args, EOTRUST_PASSPHRASE="test-passphrase")
    return code, out, err, peak_kib >> 10


# -- the REST routes that take an uploaded GeoTIFF ----------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_enet_zip: Path) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("raster-header-bombs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
        settings = load_settings(home=tmp / "home")
        cid = Registry(settings).register(tiny_enet_zip).cid
        party = create_party(settings, "sam", Role.SUBMITTER)
        key, _ = create_api_key(settings, party=party, scopes=["*"])
        bomb = block_bomb(tmp / "bomb.tif").read_bytes()
        with in_process(settings) as client:
            yield {"client": client, "cid": cid, "key": key, "bomb": bomb}


@pytest.mark.parametrize("route", ["predict", "render"])
def test_an_uploaded_block_bomb_is_a_400_and_the_server_stays_small(server: dict[str, Any], route: str) -> None:
    client = server["client"]
    headers = {"X-API-Key": server["key"], "Content-Type": "image/tiff"}
    start = _reset_peak()
    if route == "predict":
        res = client.post(f"/models/{server['cid']}/predict", content=server["bomb"], headers=headers)
    else:
        res = client.post(
            "/render/prediction", params={"model": server["cid"]}, content=server["bomb"], headers=headers
        )
    grew = _peak_mib() - start
    assert res.status_code == 400, res.text[:300]
    detail = res.json()["detail"]
    assert "declares blocks of 32,768 x 32,768 px" in detail and "\n" not in detail
    assert "/tmp" not in detail and "eotrust-predict-" not in detail  # no server path in the answer
    assert grew < 200, f"peak memory rose by {grew} MiB"


@pytest.mark.parametrize("route", ["predict", "render"])
def test_an_upload_the_model_cannot_take_is_refused_without_naming_the_servers_files(
    server: dict[str, Any], route: str, tmp_path: Path
) -> None:
    """A GeoTIFF of one band for a model of three: the refusal named the server's temporary
    file (`/tmp/…/eotrust-predict-…/input.tif has 1 bands`), telling any client where the
    server keeps its work. It names "the uploaded GeoTIFF" now."""
    one_band = tmp_path / "one.tif"
    profile: dict[str, Any] = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint8",
                               "crs": "EPSG:32633", "transform": Affine(10, 0, 465000, 0, -10, 5080000)}  # fmt: skip
    with rasterio.open(one_band, "w", **profile) as dst:
        dst.write(np.ones((1, 64, 64), dtype=np.uint8))
    client, headers = server["client"], {"X-API-Key": server["key"], "Content-Type": "image/tiff"}
    body = one_band.read_bytes()
    if route == "predict":
        res = client.post(f"/models/{server['cid']}/predict", content=body, headers=headers)
    else:
        res = client.post("/render/prediction", params={"model": server["cid"]}, content=body, headers=headers)
    assert res.status_code == 400, res.text[:300]
    detail = res.json()["detail"]
    assert "band" in detail and "the uploaded GeoTIFF" in detail, detail
    assert "/tmp" not in detail and "eotrust-" not in detail and "input.tif" not in detail, detail


# -- the CLI -----------------------------------------------------------------------------


def test_model_score_refuses_a_block_bomb_inone_line_refusal(tmp_path: Path, tiny_enet_zip: Path) -> None:
    bomb = block_bomb(tmp_path / "bomb.tif")
    out = tmp_path / "classes.tif"
    code, _, stderr, peak = _cli(tmp_path / "home", "model", "score", str(tiny_enet_zip), str(bomb), "-o", str(out))
    line = one_line_refusal(code, stderr)
    assert "declares blocks of 32,768 x 32,768 px" in line
    assert peak < 600, f"peak {peak} MiB"
    assert not out.exists() and list(tmp_path.glob("classes*")) == []  # nothing half-written


def test_register_dataset_refuses_a_block_bomb_inone_line_refusal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
        settings = load_settings(home=home)
        create_party(settings, "owner-b", Role.DATA_OWNER)
        create_party(settings, "plat-owner", Role.PLATFORM_OWNER)
    bomb = block_bomb(tmp_path / "bomb.tif")
    code, _, stderr, peak = _cli(home, "catalog", "register-dataset", str(bomb), "--as", "owner-b", "--json")
    line = one_line_refusal(code, stderr)
    assert "declares blocks of 32,768 x 32,768 px" in line
    assert peak < 600, f"peak {peak} MiB"
    code, listed, stderr, _ = _cli(home, "catalog", "search", "--json")
    assert code == 0 and "bomb" not in listed, stderr  # nothing registered


def test_a_frame_declaring_a_huge_block_is_skipped(tmp_path: Path) -> None:
    from eotrust.errors import InvalidInputError
    from eotrust.ml.scoring.stream import read_frame_file

    bomb = block_bomb(tmp_path / "frame.tif")
    start = _reset_peak()
    with pytest.raises(InvalidInputError, match=r"declares blocks of 32,768 x 32,768 px"):
        read_frame_file(bomb, max_bytes=64 * MIB)
    assert _peak_mib() - start < 200
