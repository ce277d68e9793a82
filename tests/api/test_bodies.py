"""Body limits of the upload routes (``POST /store``, ``POST /render/prediction``) against a
real server with ``max_upload_mb = 1``: a declared or streamed body over the limit is 413 with
the route's message; a body within it is accepted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eotrust.api.keys import create_api_key
from eotrust.party import Role, create_party
from eotrust.settings import load_settings

pytestmark = pytest.mark.server

MIB = 1024 * 1024


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b"\1" * size


@pytest.fixture
def small_server(tmp_path: Path, live_server_factory: Any) -> tuple[Any, str, Path]:
    home = tmp_path / "home"
    settings = load_settings(home=home)
    key, _ = create_api_key(settings, party=create_party(settings, "sam", Role.SUBMITTER), scopes=["*"])
    return live_server_factory(home, env={"EOTRUST_MAX_UPLOAD_MB": "1"}), key, settings.path("tmp")


def _refused(r: httpx.Response, message: str) -> None:
    assert r.status_code == 413, r.text
    assert message in r.json()["detail"]


def test_store_upload_limit(small_server: tuple[Any, str, Path]) -> None:
    server, key, tmp = small_server
    url, auth = f"{server.url}/store", {"X-API-Key": key}
    r = httpx.post(url, content=b"\1" * MIB, headers=auth, timeout=30)  # exactly the limit
    assert r.status_code == 201, r.text
    assert r.json()["size"] == MIB and r.json()["cid"].startswith("Qm")
    _refused(httpx.post(url, content=b"\1" * (MIB + 1), headers=auth, timeout=30), "upload larger than 1 MiB")
    try:  # chunked, no Content-Length: cut off while streaming
        _refused(httpx.post(url, content=_chunks(4 * MIB), headers=auth, timeout=30), "upload larger than 1 MiB")
    except httpx.TransportError:
        pass  # answered 413 and closed while the client was still sending
    assert httpx.post(url, content=b"small", headers=auth, timeout=30).status_code == 201  # still serving
    assert not list(tmp.glob(".upload-*"))  # no half-written upload left behind


def test_render_upload_limit(small_server: tuple[Any, str, Path]) -> None:
    server, key, tmp = small_server
    url, auth = f"{server.url}/render/prediction", {"X-API-Key": key}
    params = {"model": "Qm" + "1" * 44}
    try:
        _refused(httpx.post(url, params=params, content=_chunks(4 * MIB), headers=auth, timeout=30),
                 "upload larger than 1 MiB")
    except httpx.TransportError:
        pass
    r = httpx.post(url, params=params, content=b"", headers=auth, timeout=30)
    assert r.status_code == 400 and "request body" in r.json()["detail"]
    assert not list(tmp.glob("render-*"))
