"""Attack: a key holder for one model (a customer of the scoring API) sends arrays that are
small on the wire and huge while scored. On the old code a 99 MiB ``.npy`` of bytes (3 x 5904 x
5904) raised the server's peak memory by 3.2 GB — about thirty-fold — so four or five such
requests at once, each within ``max_upload_mb``, took a 24 GiB machine and the server with
it. Now each request takes its share of ``predict_memory_mb`` as it goes (body, working
arrays, answer): one that could never fit is refused with 413 before it is scored, one that
does not fit while others hold the budget gets 503 with ``Retry-After``, and every share comes
back, whatever the request's fate."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_client import in_process, post_streamed  # noqa: E402

from eotrust.api.memory_budget import MemoryBudget  # noqa: E402
from eotrust.catalog.api_keys import create_api_key  # noqa: E402
from eotrust.errors import EotrustError  # noqa: E402
from eotrust.ml.registry import Registry  # noqa: E402
from eotrust.settings import load_settings  # noqa: E402

MIB = 1024 * 1024
NPY = {"Content-Type": "application/x-npy"}


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _peak_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) >> 10
    raise AssertionError("no VmHWM")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak resident size starts again from now


@pytest.fixture
def scoring(tmp_path: Path, tiny_enet_zip: Path) -> Iterator[tuple[TestClient, str, str, MemoryBudget]]:
    settings = load_settings(home=tmp_path / "home", predict_memory_mb=256, max_upload_mb=512)
    cid = Registry(settings).register(tiny_enet_zip).cid
    key, _ = create_api_key(settings, party=None, scopes=[cid])
    with in_process(settings) as client:
        budget = client.app.state.eotrust.model_service.memory  # type: ignore[attr-defined]
        yield client, f"/models/{cid}/predict", key, budget


def test_a_request_that_could_never_fit_is_refused_before_it_is_scored(
    scoring: tuple[TestClient, str, str, MemoryBudget],
) -> None:
    client, url, key, budget = scoring
    auth = {**NPY, "X-API-Key": key}
    body = _npy(np.ones((1, 3, 4096, 4096), np.uint8))  # 48 MiB on the wire, ~1.3 GB to score
    _reset_peak()
    before = _peak_mib()
    r = client.post(url, content=body, headers=auth)
    assert r.status_code == 413, r.text
    assert "predict_memory_mb" in r.json()["detail"] and "MiB of memory" in r.json()["detail"]
    assert _peak_mib() - before < 200, "the request was scored (or copied) before it was refused"
    assert budget.used == 0
    # JSON grows more while parsed: a body the .npy budget would take is refused as JSON
    tile = np.zeros((3, 1500, 1500), np.uint8)  # 6.4 MiB as .npy, 19 MiB as JSON
    r = client.post(url, json={"data": tile.tolist()}, headers={"X-API-Key": key})
    assert r.status_code == 413 and "JSON" in r.json()["detail"], r.text[:300]
    r = client.post(url, content=_npy(tile), headers=auth)
    assert r.status_code == 200, r.text[:300]
    # one that fits is scored, and its share comes back
    r = client.post(url, content=_npy(np.ones((1, 3, 256, 256), np.float32)), headers=auth)
    assert r.status_code == 200, r.text[:300]
    assert budget.used == 0


def test_a_chunked_body_is_counted_as_it_arrives(scoring: tuple[TestClient, str, str, MemoryBudget]) -> None:
    client, url, key, budget = scoring

    def chunks() -> Iterator[bytes]:
        for _ in range(400):
            yield b"\0" * MIB

    r, pulled = post_streamed(client, url, chunks(), headers={**NPY, "X-API-Key": key})
    assert r.status_code == 413 and "predict_memory_mb" in r.json()["detail"], r.text
    assert pulled <= 260 * MIB, pulled  # stopped at the budget, not at max_upload_mb (512)
    assert budget.used == 0


def test_while_others_hold_the_budget_a_request_is_told_to_come_back(
    scoring: tuple[TestClient, str, str, MemoryBudget],
) -> None:
    client, url, key, budget = scoring
    body = _npy(np.ones((1, 3, 256, 256), np.float32))
    others = budget.hold(lambda n, t: EotrustError("too large"), lambda n, t: EotrustError("busy"))
    others.take(budget.total - MIB)  # other requests being scored
    r = client.post(url, content=body, headers={**NPY, "X-API-Key": key})
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert "scoring other requests" in r.json()["detail"]
    assert budget.used == budget.total - MIB  # its own share went back
    others.release()
    r = client.post(url, content=body, headers={**NPY, "X-API-Key": key})
    assert r.status_code == 200, r.text[:300]
    # malformed, wrong-shaped and unsupported requests give their shares back too
    for content, headers in (
        (b"\x93NUMPY garbage", NPY),
        (_npy(np.ones((1, 5, 32, 32), np.float32)), NPY),
        (b"{}", {"Content-Type": "application/json"}),
        (b"II*\0" + b"\0" * 64, {"Content-Type": "image/tiff"}),
    ):
        r = client.post(url, content=content, headers={**headers, "X-API-Key": key})
        assert 400 <= r.status_code < 500, r.text[:300]
        assert budget.used == 0, (content[:16], budget.used)


def test_a_budget_is_shared_exactly() -> None:
    budget = MemoryBudget(100)

    def refuse(kind: str):  # type: ignore[no-untyped-def]
        return lambda n, t: EotrustError(f"{kind} {n}/{t}")

    a = budget.hold(refuse("large"), refuse("busy"))
    b = budget.hold(refuse("large"), refuse("busy"))
    a.take(60)
    with pytest.raises(EotrustError, match="busy 50/100"):
        b.take(50)
    with pytest.raises(EotrustError, match="large 101/100"):
        b.take(101)
    b.take(40)
    assert budget.used == 100
    a.release()
    a.release()  # twice: nothing more
    assert budget.used == 40
    b.release()
    assert budget.used == 0


def test_a_scene_to_render_takes_its_strips_from_the_budget(tmp_path: Path, tiny_enet_zip: Path) -> None:
    """``/render/prediction`` scores a whole scene: its strip buffers span the scene's width, so a
    GeoTIFF of a few kilobytes 200,000 pixels wide would need 270 MB (a million wide: 1.3 GB)
    per request, with nothing bounding how many run at once. Refused now, before it is scored."""
    import rasterio
    from affine import Affine

    from eotrust.party import Role, create_party

    settings = load_settings(home=tmp_path / "home", predict_memory_mb=256)
    cid = Registry(settings).register(tiny_enet_zip).cid
    key, _ = create_api_key(settings, party=create_party(settings, "sam", Role.SUBMITTER), scopes=["*"])

    def scene(width: int) -> bytes:
        path = tmp_path / f"wide-{width}.tif"
        profile = {"driver": "GTiff", "width": width, "height": 64, "count": 3, "dtype": "uint8"}
        profile |= {"crs": "EPSG:32633", "transform": Affine(10, 0, 500000, 0, -10, 5100000)}
        with rasterio.open(path, "w", compress="deflate", tiled=True, **profile) as dst:
            dst.write(np.full((3, 64, width), 7, np.uint8))
        return path.read_bytes()

    wide = scene(200_000)
    assert len(wide) < 1 * MIB
    with in_process(settings) as client:
        budget = client.app.state.eotrust.model_service.memory  # type: ignore[attr-defined]
        auth = {"X-API-Key": key, "Content-Type": "image/tiff"}
        r = client.post("/render/prediction", params={"model": cid}, content=wide, headers=auth)
        assert r.status_code == 413 and "predict_memory_mb" in r.json()["detail"], r.text[:300]
        assert budget.used == 0
        r = client.post("/render/prediction", params={"model": cid}, content=scene(2_000), headers=auth)
        assert r.status_code == 200, r.text[:300]
        assert r.json()["prediction_png"].startswith("data:image/png")
        assert budget.used == 0
