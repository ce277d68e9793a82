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
from eotrust.disk import free_bytes
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


def _free_mib(path: Path) -> int:
    return free_bytes(path) >> 20


def test_uploads_that_would_fill_the_disk_are_refused(
    tmp_path: Path, api_client_factory: Callable[..., TestClient]
) -> None:
    """A party's uploads must not fill the disk the chain journal, catalogue and store live on:
    with less free than ``min_free_disk_mb`` after the upload, 507 (Retry-After), nothing kept.
    Before, uploads were written until the disk was full."""
    home = tmp_path / "home"
    settings = load_settings(home=home)
    key, _ = create_api_key(settings, party=create_party(settings, "sam", Role.SUBMITTER), scopes=["*"])
    auth = {"X-API-Key": key}
    short = api_client_factory(home, min_free_disk_mb=_free_mib(tmp_path) + 4096)  # more than the disk has
    r = short.post("/store", content=b"\1" * 1024, headers=auth)
    assert r.status_code == 507 and "short of disk" in r.json()["detail"], r.text
    assert r.headers["retry-after"] == "60"
    r, pulled = post_streamed(short, "/store", _chunks(4 * MIB), headers=auth)  # chunked: refused at once
    assert r.status_code == 507 and pulled <= 64 * 1024
    r = short.post("/render/prediction", params={"model": "Qm" + "1" * 44}, content=b"\1" * 1024, headers=auth)
    assert r.status_code == 507, r.text
    assert not list(settings.path("tmp").glob(".upload-*")) and not list(settings.path("tmp").glob("render-*"))
    roomy = api_client_factory(home, min_free_disk_mb=0)
    assert roomy.post("/store", content=b"\1" * 1024, headers=auth).status_code == 201


def test_the_disk_is_checked_again_while_an_upload_streams(tmp_path: Path) -> None:
    from eotrust.api.bodies import DiskGuard
    from eotrust.errors import InsufficientStorageError

    keep = max(_free_mib(tmp_path) - 256, 0)  # 256 MiB to spare: an upload stored twice fills it at ~128 MiB
    guard = DiskGuard(lambda _chunk: None, [tmp_path], keep, copies=2)  # writes nothing itself
    chunk = b"\0" * (1 << 20)
    with pytest.raises(InsufficientStorageError):
        for _ in range(4096):
            guard(chunk)
    assert 8 * MIB <= guard.written <= 512 * MIB, guard.written  # refused part-way, not at once
