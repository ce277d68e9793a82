"""Body limits of the upload routes (``POST /store``, ``POST /render/prediction``) with
``max_upload_mb = 1``: a declared or streamed body over the limit is 413 with the route's
message; a body within it is accepted. Streamed bodies go through httpx's ASGI transport, which
hands the app one 64 KiB chunk at a time, so the cut-off happens part-way through the upload."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from api_client import post_streamed
from fastapi.testclient import TestClient

from eotrust.catalog.api_keys import create_api_key
from eotrust.party import Role, create_party
from eotrust.settings import load_settings

MIB = 1024 * 1024


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b"\1" * size


@pytest.fixture
def small_server(tmp_path: Path, api_client_factory: Callable[..., TestClient]) -> tuple[TestClient, str, Path]:
    home = tmp_path / "home"
    settings = load_settings(home=home)
    key, _ = create_api_key(settings, party=create_party(settings, "sam", Role.SUBMITTER), scopes=["*"])
    return api_client_factory(home, max_upload_mb=1), key, settings.path("tmp")


def _refused(r: httpx.Response, message: str) -> None:
    assert r.status_code == 413, r.text
    assert message in r.json()["detail"]


def test_store_upload_limit(small_server: tuple[TestClient, str, Path]) -> None:
    client, key, tmp = small_server
    auth = {"X-API-Key": key}
    r = client.post("/store", content=b"\1" * MIB, headers=auth)  # exactly the limit
    assert r.status_code == 201, r.text
    assert r.json()["size"] == MIB and r.json()["cid"].startswith("Qm")
    _refused(client.post("/store", content=b"\1" * (MIB + 1), headers=auth), "upload larger than 1 MiB")
    # chunked, no Content-Length: cut off while streaming (16 chunks written, then refused)
    r, pulled = post_streamed(client, "/store", _chunks(4 * MIB), headers=auth)
    _refused(r, "upload larger than 1 MiB")
    assert MIB < pulled < 4 * MIB
    assert client.post("/store", content=b"small", headers=auth).status_code == 201  # still serving
    assert not list(tmp.glob(".upload-*"))  # no half-written upload left behind


def test_render_upload_limit(small_server: tuple[TestClient, str, Path]) -> None:
    client, key, tmp = small_server
    auth = {"X-API-Key": key}
    params = {"model": "Qm" + "1" * 44}
    r, pulled = post_streamed(client, "/render/prediction", _chunks(4 * MIB), headers=auth, params=params)
    _refused(r, "upload larger than 1 MiB")
    assert MIB < pulled < 4 * MIB
    r = client.post("/render/prediction", params=params, content=b"", headers=auth)
    assert r.status_code == 400 and "request body" in r.json()["detail"]
    assert not list(tmp.glob("render-*"))


def test_sparql_post_reads_no_more_than_a_query(small_server: tuple[TestClient, str, Path]) -> None:
    """Anonymous: the SPARQL endpoint read the whole body before measuring it (a 4 GB POST was
    4 GB of server memory); now 64 KiB at most, declared or streamed."""
    client, _key, _tmp = small_server
    sparql = {"Content-Type": "application/sparql-query"}
    _refused(client.post("/sparql", content=b" " * (65 * 1024), headers=sparql), "at most 65536 are read")
    r, pulled = post_streamed(client, "/sparql", _chunks(4 * MIB), headers=sparql)
    _refused(r, "none is read")
    assert pulled < 4 * MIB
    assert client.post("/sparql", content=b"ASK { ?s ?p ?o }", headers=sparql).status_code == 200


def test_ogc_deploy_reads_no_more_than_a_package(small_server: tuple[TestClient, str, Path]) -> None:
    """An authenticated party: a deployed package was read whole before its size was checked."""
    client, key, _tmp = small_server
    headers = {"X-API-Key": key, "Content-Type": "application/cwl+yaml"}
    r, pulled = post_streamed(client, "/processes", _chunks(8 * MIB), headers=headers)
    _refused(r, "the package is over 2097152 bytes")
    assert pulled < 8 * MIB
