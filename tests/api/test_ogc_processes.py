"""OGC API - Processes driven by an unmodified OWSLib client against a real `eotrust serve`
(OWSLib calls ``requests.get`` itself, so it cannot be handed a transport): list, describe,
execute asynchronously (a ledger task), poll the job to successful, fetch the results (links to
CIDs in the store). The standard's error answers and synchronous execution: the app in process."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from api_world import FlowWorld
from fastapi.testclient import TestClient
from owslib.ogcapi.processes import Processes
from waiting import wait_for

if TYPE_CHECKING:
    from api_server import LiveServer

pytestmark = [pytest.mark.slow]


@pytest.fixture
def world_server(world: FlowWorld, live_server_factory: Callable[..., LiveServer]) -> tuple[FlowWorld, LiveServer]:
    server = live_server_factory(world.home, "--dev-autoack", "--run-nodes")
    return world, server


@pytest.mark.server
def test_owslib_lists_describes_executes_polls_and_fetches(world_server: tuple[FlowWorld, LiveServer]) -> None:
    world, server = world_server
    client = Processes(server.url, headers={"X-API-Key": world.keys["sam"]})

    processes = client.processes()
    assert [p["id"] for p in processes] == ["shout"]
    assert "async-execute" in processes[0]["jobControlOptions"]

    desc = client.process("shout")
    assert set(desc["inputs"]) == {"scene", "tag", "times", "platform"}
    assert desc["inputs"]["tag"]["minOccurs"] == 1 and desc["inputs"]["tag"]["schema"] == {"type": "string"}
    assert desc["inputs"]["times"]["schema"]["default"] == 1 and desc["inputs"]["times"]["minOccurs"] == 0
    assert set(desc["outputs"]) == {"shouted"}

    status = client.execute("shout", inputs={"scene": world.dataset_id, "tag": "karst"}, async_=True)
    assert status["status"] == "accepted" and status["type"] == "process"
    job = status["jobID"]
    assert client.response_headers["Location"].endswith(f"/jobs/{job}")

    def ended() -> dict[str, Any] | None:
        status = client._request(path=f"jobs/{job}")  # OWSLib's generic OGC API request
        return None if status["status"] in ("accepted", "running") else status

    status = wait_for(ended, timeout_s=120, interval_s=0.2, what=lambda: server.log_text()[-3000:])
    assert status["status"] == "successful", (status, server.log_text()[-3000:])
    assert status["progress"] == 100

    results = client._request(path=f"jobs/{job}/results")
    assert set(results) == {"shouted"}
    href = results["shouted"]["href"]
    assert href.startswith(f"{server.url}/store/Qm")

    # The result is stored encrypted for the submitter; its submitter may download it...
    blob = httpx.get(href, headers={"X-API-Key": world.keys["sam"]})
    assert blob.status_code == 200 and blob.content.startswith(b"age-encryption.org/v1")
    from eotrust.cid import cid_of_bytes

    assert cid_of_bytes(blob.content) == href.rsplit("/", 1)[1]
    # ...another submitter may not, nor read the job's results.
    assert httpx.get(href, headers={"X-API-Key": world.keys["sue"]}).status_code == 403
    assert httpx.get(f"{server.url}/jobs/{job}/results", headers={"X-API-Key": world.keys["sue"]}).status_code == 403

    jobs = client._request(path="jobs")["jobs"]
    assert [j["jobID"] for j in jobs] == [job]


def test_ogc_error_answers(world: FlowWorld, world_client: TestClient) -> None:
    client = world_client
    key = {"X-API-Key": world.keys["sam"]}
    r = client.get("/processes/nope")
    assert r.status_code == 404 and r.json()["type"].endswith("/no-such-process")
    r = client.get("/jobs/0x0000000000000000000000000000000000000001", headers=key)
    assert r.status_code == 404 and r.json()["type"].endswith("/no-such-job")
    r = client.post("/processes/shout/execution", json={"inputs": {"scene": world.dataset_id}}, headers=key)
    assert r.status_code == 400 and "tag" in r.json()["detail"]
    r = client.post(
        "/processes/shout/execution", json={"inputs": {"scene": world.dataset_id, "tag": "x", "times": 9}}, headers=key
    )
    assert r.status_code == 400 and "times" in r.json()["detail"]
    r = client.post("/processes/shout/execution", json={"inputs": {"scene": world.dataset_id, "tag": "x"}})
    assert r.status_code == 401
    # a data owner is not a submitter
    r = client.post(
        "/processes/shout/execution",
        json={"inputs": {"scene": world.dataset_id, "tag": "x"}},
        headers={"X-API-Key": world.keys["olga"]},
    )
    assert r.status_code == 403


def test_sync_execution_returns_the_results_document(world: FlowWorld, world_client: TestClient) -> None:
    r = world_client.post(
        "/processes/shout/execution",
        json={"inputs": {"scene": world.dataset_id, "tag": "sync"}, "response": "document"},
        headers={"X-API-Key": world.keys["sue"], "Prefer": "respond-sync"},
    )
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"shouted"}
