"""Every route that acts for a party refuses a missing key (401) and a party it does not act
for (403): generic over the OpenAPI document for missing keys, and case by case for parties."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_world import build_world
from api_server import LiveServer, start_server

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, LiveServer, str]]:
    """A server with one Finished task submitted by sam."""
    base = tmp_path_factory.mktemp("auth")
    with pytest.MonkeyPatch.context() as env:  # the per-test isolation of tests/conftest.py, for the module
        for var in ("EOTRUST_HOME", "EOTRUST_CHAIN_URL", "EOTRUST_STORE", "EOTRUST_CATALOG_URL", "EOTRUST_DASK_SCHEDULER"):
            env.delenv(var, raising=False)
        env.setenv("EOTRUST_CONFIG", "")  # no config file (a missing one is an error)
        env.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
        env.setenv("EOTRUST_KEYSTORE_SCRYPT_N", "4096")
        world = build_world(base / "home", submitters=("sam", "sue"))
        server = start_server(base / "home", "--dev-autoack", "--run-nodes")
    try:
        r = httpx.post(f"{server.url}/processes/shout/execution",
                       json={"inputs": {"scene": world.dataset_id, "tag": "auth"}},
                       headers={"X-API-Key": world.keys["sam"], "Prefer": "respond-async"}, timeout=60)
        assert r.status_code == 201, r.text
        job = r.json()["jobID"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = httpx.get(f"{server.url}/jobs/{job}", headers={"X-API-Key": world.keys["sam"]}, timeout=30).json()["status"]
            if status not in ("accepted", "running"):
                break
            time.sleep(0.5)
        assert status == "successful", server.log_text()[-3000:]
        yield world, server, job
    finally:
        server.stop()


def _fill(path: str) -> str:
    return path.replace("{jobId}", "0xabc").replace("{address}", "0xabc").replace(
        "{cid}", "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX").replace("{processId}", "shout").replace(
        "{record_id}", "x").replace("{collection_id}", "datasets").replace("{item_id}", "x")


def test_every_secured_operation_refuses_missing_and_unknown_keys(finished: tuple[Any, LiveServer, str]) -> None:
    _, server, _ = finished
    spec = httpx.get(f"{server.url}/openapi.json").json()
    secured = [(method, path) for path, ops in spec["paths"].items() for method, op in ops.items() if op.get("security")]
    assert len(secured) >= 12, secured
    for method, path in secured:
        url = server.url + _fill(path)
        body = {} if method in ("post", "put") else None
        assert httpx.request(method, url, json=body).status_code == 401, (method, path)
        r = httpx.request(method, url, json=body, headers={"X-API-Key": "not-a-key"})
        assert r.status_code == 401, (method, path, r.text)
        r = httpx.request(method, url, json=body, headers={"Authorization": "Bearer not-a-key"})
        assert r.status_code == 401, (method, path, r.text)


def test_each_party_acts_only_as_itself(finished: tuple[Any, LiveServer, str]) -> None:
    world, server, job = finished
    key = lambda name: {"X-API-Key": world.keys[name]}  # noqa: E731
    get = lambda path, name: httpx.get(server.url + path, headers=key(name))  # noqa: E731

    # the submitter sees everything of its task; a bearer token works like X-API-Key
    assert get(f"/jobs/{job}/results", "sam").status_code == 200
    assert httpx.get(f"{server.url}/tasks/{job}", headers={"Authorization": f"Bearer {world.keys['sam']}"}).status_code == 200
    results = get(f"/jobs/{job}/results", "sam").json()
    result_cid = results["shouted"]["href"].rsplit("/", 1)[1]

    # another submitter sees nothing of it
    for path in (f"/jobs/{job}", f"/jobs/{job}/results", f"/tasks/{job}", f"/tasks/{job}/history",
                 f"/tasks/{job}/provenance", f"/store/{result_cid}"):
        assert get(path, "sue").status_code == 403, path
    assert get("/jobs", "sue").json()["jobs"] == []
    assert get("/tasks", "sue").json() == []

    # the data owner is a party of the task (status, history) but not its submitter (results)
    assert get(f"/tasks/{job}", "olga").status_code == 200
    assert get(f"/jobs/{job}/results", "olga").status_code == 403
    assert get(f"/store/{result_cid}", "olga").status_code == 403
    # nobody but the data owner downloads the dataset's plaintext
    assert get(f"/store/{world.dataset_cid}", "sam").status_code == 403
    assert get(f"/store/{world.dataset_cid}", "olga").status_code in (200, 404)

    # only a submitter opens tasks; only the addressed owner answers, and only while locked
    r = httpx.post(f"{server.url}/processes/shout/execution", headers=key("olga"),
                   json={"inputs": {"scene": world.dataset_id, "tag": "x"}})
    assert r.status_code == 403
    r = httpx.post(f"{server.url}/tasks/{job}/answer", headers=key("sue"), json={"accept": True})
    assert r.status_code in (403, 409)
    r = httpx.post(f"{server.url}/tasks/{job}/answer", headers=key("olga"), json={"accept": False})
    assert r.status_code == 409  # Finished: nothing left to answer, and terminal states never change


def test_a_catalogue_number_out_of_bounds_is_a_400_naming_the_field(finished: tuple[Any, LiveServer, str]) -> None:
    """The record's own bounds (eotrust.catalog.entries) answer: a clear 400, nothing registered."""
    world, server, _ = finished
    headers = {"X-API-Key": world.keys["pia"]}
    before = httpx.get(f"{server.url}/catalog/platforms").json()
    for field, value in (("memory_mb", 10**30), ("cpus", 2**63), ("gpus", -1)):
        body = {"name": "huge", "age_recipient": "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq", field: value}
        r = httpx.post(f"{server.url}/catalog/platforms", headers=headers, json=body, timeout=30)
        assert r.status_code == 400, (field, r.text)
        assert field in r.json()["detail"] and "Input should be" in r.json()["detail"], r.text
    r = httpx.post(f"{server.url}/catalog/datasets", headers={"X-API-Key": world.keys["olga"]}, timeout=30,
                   json={"title": "huge", "cid": world.dataset_cid, "size": 2**64})
    assert r.status_code == 400 and "size" in r.json()["detail"], r.text
    assert httpx.get(f"{server.url}/catalog/platforms").json() == before


def test_a_data_owner_cannot_answer_another_owners_request(tmp_path: Path) -> None:
    """Without auto-answer: the task waits in RequestsLocked; a second data owner's key is
    refused, the right owner's answer is accepted."""
    world = build_world(tmp_path / "home", submitters=("sam",))
    from eotrust.api.keys import create_api_key
    from eotrust.party import Role, create_party
    from eotrust.settings import load_settings

    settings = load_settings(home=world.home)
    create_party(settings, "otto", Role.DATA_OWNER)
    otto_key, _ = create_api_key(settings, party="otto", scopes=["*"])
    server = start_server(world.home)
    try:
        r = httpx.post(f"{server.url}/tasks", headers={"X-API-Key": world.keys["sam"]},
                       json={"process": "shout", "inputs": {"scene": world.dataset_id, "tag": "x"}}, timeout=60)
        assert r.status_code == 201, r.text
        address = r.json()["address"]
        assert r.json()["state"] == "RequestsLocked"
        r = httpx.post(f"{server.url}/tasks/{address}/answer", headers={"X-API-Key": otto_key}, json={"accept": True}, timeout=60)
        assert r.status_code == 403, r.text
        r = httpx.post(f"{server.url}/tasks/{address}/answer", headers={"X-API-Key": world.keys["olga"]}, json={"accept": True}, timeout=60)
        assert r.status_code == 200, r.text
        snap = r.json()["snapshot"]
        assert any(str(req.get("status")) in ("Acknowledged", "2") for req in snap["requests"]), snap
        r = httpx.post(f"{server.url}/tasks/{address}/answer", headers={"X-API-Key": world.keys["alan"]}, json={"accept": False}, timeout=60)
        assert r.status_code == 200 and r.json()["state"] == "Nacked"
        status = httpx.get(f"{server.url}/jobs/{address}", headers={"X-API-Key": world.keys["sam"]}).json()
        assert status["status"] == "dismissed"
    finally:
        server.stop()
