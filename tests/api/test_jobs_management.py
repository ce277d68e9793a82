"""Job management in Weaver's shape, in process: a deployed CWL package (Part 2) is executed as
a ledger task, run by the platform node inside the server (cwltool as a library), and then
listed with filters, and its inputs, logs, PROV document and statistics are read by its
parties and refused to everyone else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import FlowWorld, build_world
from fastapi.testclient import TestClient
from waiting import wait_for

CWL = Path(__file__).resolve().parents[1] / "data" / "cwl"

pytestmark = [pytest.mark.slow]


@pytest.fixture
def world(tmp_path: Path) -> FlowWorld:
    return build_world(tmp_path / "home", submitters=("sam", "sue"))


@pytest.fixture
def client(world: FlowWorld) -> Iterator[TestClient]:
    from eotrust.api.app import create_app
    from eotrust.settings import load_settings

    app = create_app(load_settings(home=world.home), dev_autoack=True, run_nodes=True)
    with TestClient(app) as c:
        yield c


def _key(world: FlowWorld, who: str) -> dict[str, str]:
    return {"X-API-Key": world.keys[who]}


def _wait(client: TestClient, world: FlowWorld, job: str, who: str = "sam") -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        status: dict[str, Any] = client.get(f"/jobs/{job}", headers=_key(world, who)).json()
        return status if status["status"] not in ("accepted", "running") else None

    return wait_for(settled, timeout_s=180, what=f"job {job} to leave accepted/running", interval_s=0.3)


def test_deployed_cwl_job_lists_filters_and_details(client: TestClient, world: FlowWorld) -> None:
    dep = client.post(
        "/processes",
        content=(CWL / "shout.cwl").read_bytes(),
        params={"id": "shout-cwl"},
        headers={**_key(world, "alan"), "Content-Type": "application/cwl+yaml"},
    )
    assert dep.status_code == 201, dep.text
    run = client.post(
        "/processes/shout-cwl/execution",
        json={"inputs": {"scene": world.dataset_id, "tag": "karst"}},
        headers={**_key(world, "sam"), "Prefer": "respond-async"},
    )
    assert run.status_code == 201, run.text
    job = run.json()["jobID"]
    status = _wait(client, world, job)
    assert status["status"] == "successful", status
    assert set(client.get(f"/jobs/{job}/results", headers=_key(world, "sam")).json()) == {"shouted"}

    # a second job of the other process, by the same submitter
    other = client.post(
        "/processes/shout/execution",
        json={"inputs": {"scene": world.dataset_id, "tag": "x"}},
        headers={**_key(world, "sam"), "Prefer": "respond-async"},
    ).json()["jobID"]
    _wait(client, world, other)

    def ids(**params: Any) -> list[str]:
        res = client.get("/jobs", params=params, headers=_key(world, "sam"))
        assert res.status_code == 200, res.text
        return [j["jobID"] for j in res.json()["jobs"]]

    assert set(ids()) == {job, other}
    assert ids(process="shout-cwl") == [job]
    assert ids(status="failed") == []
    assert set(ids(status="successful,failed")) == {job, other}
    assert ids(datetime="2999-01-01T00:00:00Z/..") == []
    assert set(ids(datetime="../2999-01-01T00:00:00Z")) == {job, other}
    assert ids(sort="created") == list(reversed(ids(sort="-created")))
    page0 = client.get("/jobs", params={"limit": 1}, headers=_key(world, "sam")).json()
    assert page0["total"] == 2 and len(page0["jobs"]) == 1 and any(link["rel"] == "next" for link in page0["links"])
    assert ids(limit=1, page=1) == [j for j in ids() if j != page0["jobs"][0]["jobID"]]
    assert client.get("/jobs", headers=_key(world, "sue")).json()["jobs"] == []
    for bad in ({"status": "exploded"}, {"sort": "drop table"}, {"datetime": "yesterday"}, {"limit": 0}):
        assert client.get("/jobs", params=bad, headers=_key(world, "sam")).status_code == 400, bad

    inputs = client.get(f"/jobs/{job}/inputs", headers=_key(world, "sam")).json()["inputs"]
    assert inputs["scene"]["value"] == world.dataset_id and inputs["tag"] == "karst"

    logs = client.get(f"/jobs/{job}/logs", headers=_key(world, "sam")).json()
    assert any("ledger" in line for line in logs) and any("step shout" in line for line in logs)
    text = client.get(f"/jobs/{job}/logs", headers={**_key(world, "sam"), "Accept": "text/plain"})
    assert text.headers["content-type"].startswith("text/plain") and "ledger" in text.text

    prov = client.get(f"/jobs/{job}/prov", headers=_key(world, "sam")).json()
    assert prov["activity"] and prov["entity"] and "wasGeneratedBy" in prov

    # the run record names the deployed package as its workflow, as `eotrust verify` expects
    from eotrust.catalog.entries import ApplicationInfo
    from eotrust.catalog.service import Catalog
    from eotrust.settings import load_settings
    from eotrust.store import open_store
    from eotrust.workflow.record import RunRecord

    settings = load_settings(home=world.home)
    package = Catalog(settings).get(dep.json()["application"]).narrow(ApplicationInfo).body.workflow_cid
    run_cid = Catalog(settings).results(task=job)[0].body.run_cid
    assert RunRecord.model_validate_json(open_store(settings).get_bytes(run_cid)).workflow_cid == package

    stats = client.get(f"/jobs/{job}/statistics", headers=_key(world, "sam")).json()
    assert stats["process"]["steps"] == 1 and stats["application"]["executor"].startswith("cwltool/")
    assert stats["outputs"]["shouted"]["size"] == len("NDVI OVER THE KARST\nKARST\n")

    # the data owner is a party of the job; a submitter of nothing here is not
    assert client.get(f"/jobs/{job}/inputs", headers=_key(world, "olga")).status_code == 200
    for path in ("inputs", "logs", "prov", "statistics"):
        assert client.get(f"/jobs/{job}/{path}", headers=_key(world, "sue")).status_code == 403, path
        assert client.get(f"/jobs/{job}/{path}").status_code == 401, path
    assert (
        client.get("/jobs/0x0000000000000000000000000000000000000001/logs", headers=_key(world, "sam")).status_code
        == 404
    )
