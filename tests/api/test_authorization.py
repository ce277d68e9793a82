"""Every route that acts for a party refuses a missing key (401) and a party it does not act
for (403): generic over the OpenAPI document for missing keys, and case by case for parties."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
import pytest
from api_client import in_process
from api_world import FlowWorld, build_world
from fast_keys import SCRYPT_N
from fastapi.testclient import TestClient
from waiting import wait_for

from eotrust.settings import load_settings

pytestmark = [pytest.mark.slow]


def run_to_end(client: TestClient, key: str, job: str, *, timeout_s: float = 120) -> str:
    """Poll ``/jobs/{job}`` until the job leaves accepted/running; its final status."""

    def final() -> str | None:
        status = client.get(f"/jobs/{job}", headers={"X-API-Key": key}).json()["status"]
        return None if status in ("accepted", "running") else status

    return wait_for(final, timeout_s=timeout_s, what=f"job {job} to end", interval_s=0.2)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlowWorld, TestClient, str]]:
    """The app (in process) with one Finished task submitted by sam."""
    base = tmp_path_factory.mktemp("auth")
    with pytest.MonkeyPatch.context() as env:  # the per-test isolation of tests/conftest.py, for the module
        for var in (
            "EOTRUST_HOME",
            "EOTRUST_CHAIN_URL",
            "EOTRUST_STORE",
            "EOTRUST_CATALOG_URL",
            "EOTRUST_DASK_SCHEDULER",
        ):
            env.delenv(var, raising=False)
        env.setenv("EOTRUST_CONFIG", "")  # no config file (a missing one is an error)
        env.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
        env.setenv("EOTRUST_KEYSTORE_SCRYPT_N", str(SCRYPT_N))
        world = build_world(base / "home", submitters=("sam", "sue"))
        with in_process(load_settings(home=world.home), dev_autoack=True, run_nodes=True) as client:
            r = client.post(
                "/processes/shout/execution",
                json={"inputs": {"scene": world.dataset_id, "tag": "auth"}},
                headers={"X-API-Key": world.keys["sam"], "Prefer": "respond-async"},
            )
            assert r.status_code == 201, r.text
            job = r.json()["jobID"]
            assert run_to_end(client, world.keys["sam"], job) == "successful"
            yield world, client, job


def _fill(path: str) -> str:
    return (
        path.replace("{jobId}", "0xabc")
        .replace("{address}", "0xabc")
        .replace("{cid}", "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX")
        .replace("{processId}", "shout")
        .replace("{record_id}", "x")
        .replace("{collection_id}", "datasets")
        .replace("{item_id}", "x")
    )


def test_every_secured_operation_refuses_missing_and_unknown_keys(finished: tuple[FlowWorld, TestClient, str]) -> None:
    _, client, _ = finished
    spec = client.get("/openapi.json").json()
    secured = [
        (method, path) for path, ops in spec["paths"].items() for method, op in ops.items() if op.get("security")
    ]
    assert len(secured) >= 12, secured
    for method, path in secured:
        url = _fill(path)
        body: dict[str, object] | None = {} if method in ("post", "put") else None
        assert client.request(method, url, json=body).status_code == 401, (method, path)
        r = client.request(method, url, json=body, headers={"X-API-Key": "not-a-key"})
        assert r.status_code == 401, (method, path, r.text)
        r = client.request(method, url, json=body, headers={"Authorization": "Bearer not-a-key"})
        assert r.status_code == 401, (method, path, r.text)


def test_each_party_acts_only_as_itself(finished: tuple[FlowWorld, TestClient, str]) -> None:
    world, client, job = finished

    def key(name: str) -> dict[str, str]:
        return {"X-API-Key": world.keys[name]}

    def get(path: str, name: str) -> httpx.Response:
        return cast(httpx.Response, client.get(path, headers=key(name)))  # TestClient is untyped here

    # the submitter sees everything of its task; a bearer token works like X-API-Key
    assert get(f"/jobs/{job}/results", "sam").status_code == 200
    assert client.get(f"/tasks/{job}", headers={"Authorization": f"Bearer {world.keys['sam']}"}).status_code == 200
    results = get(f"/jobs/{job}/results", "sam").json()
    result_cid = results["shouted"]["href"].rsplit("/", 1)[1]

    # another submitter sees nothing of it
    for path in (
        f"/jobs/{job}",
        f"/jobs/{job}/results",
        f"/tasks/{job}",
        f"/tasks/{job}/history",
        f"/tasks/{job}/provenance",
        f"/store/{result_cid}",
    ):
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
    r = client.post(
        "/processes/shout/execution", headers=key("olga"), json={"inputs": {"scene": world.dataset_id, "tag": "x"}}
    )
    assert r.status_code == 403
    r = client.post(f"/tasks/{job}/answer", headers=key("sue"), json={"accept": True})
    assert r.status_code in (403, 409)
    r = client.post(f"/tasks/{job}/answer", headers=key("olga"), json={"accept": False})
    assert r.status_code == 409  # Finished: nothing left to answer, and terminal states never change


def test_a_catalogue_number_out_of_bounds_is_a_400_naming_the_field(
    finished: tuple[FlowWorld, TestClient, str],
) -> None:
    """The record's own bounds (eotrust.catalog.entries) answer: a clear 400, nothing registered."""
    world, client, _ = finished
    headers = {"X-API-Key": world.keys["pia"]}
    before = client.get("/catalog/platforms").json()
    for field, value in (("memory_mb", 10**30), ("cpus", 2**63), ("gpus", -1)):
        body = {
            "name": "huge",
            "age_recipient": "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
            field: value,
        }
        r = client.post("/catalog/platforms", headers=headers, json=body)
        assert r.status_code == 400, (field, r.text)
        assert field in r.json()["detail"] and "Input should be" in r.json()["detail"], r.text
    r = client.post(
        "/catalog/datasets",
        headers={"X-API-Key": world.keys["olga"]},
        json={"title": "huge", "cid": world.dataset_cid, "size": 2**64},
    )
    assert r.status_code == 400 and "size" in r.json()["detail"], r.text
    assert client.get("/catalog/platforms").json() == before


def test_a_data_owner_cannot_answer_another_owners_request(
    tmp_path: Path, api_client_factory: Callable[..., TestClient]
) -> None:
    """Without auto-answer: the task waits in RequestsLocked; a second data owner's key is
    refused, the right owner's answer is accepted."""
    world = build_world(tmp_path / "home", submitters=("sam",))
    from eotrust.catalog.api_keys import create_api_key
    from eotrust.party import Role, create_party

    settings = load_settings(home=world.home)
    otto_key, _ = create_api_key(settings, party=create_party(settings, "otto", Role.DATA_OWNER), scopes=["*"])
    client = api_client_factory(world.home)
    r = client.post(
        "/tasks",
        headers={"X-API-Key": world.keys["sam"]},
        json={"process": "shout", "inputs": {"scene": world.dataset_id, "tag": "x"}},
    )
    assert r.status_code == 201, r.text
    address = r.json()["address"]
    assert r.json()["state"] == "RequestsLocked"
    r = client.post(f"/tasks/{address}/answer", headers={"X-API-Key": otto_key}, json={"accept": True})
    assert r.status_code == 403, r.text
    r = client.post(f"/tasks/{address}/answer", headers={"X-API-Key": world.keys["olga"]}, json={"accept": True})
    assert r.status_code == 200, r.text
    snap = r.json()["snapshot"]
    assert any(str(req.get("status")) in ("Acknowledged", "2") for req in snap["requests"]), snap
    r = client.post(f"/tasks/{address}/answer", headers={"X-API-Key": world.keys["alan"]}, json={"accept": False})
    assert r.status_code == 200 and r.json()["state"] == "Nacked"
    status = client.get(f"/jobs/{address}", headers={"X-API-Key": world.keys["sam"]}).json()
    assert status["status"] == "dismissed"


def test_results_are_decrypted_for_the_web_only_with_room_on_the_disk(
    finished: tuple[FlowWorld, TestClient, str],
) -> None:
    """``GET /tasks/{address}/results`` decrypts a task's results into the server's home once and
    keeps them for the page: not when that would leave less than ``min_free_disk_mb`` (507, and
    nothing half-written); with room, it does."""
    from eotrust.disk import free_bytes

    world, client, job = finished
    sam = {"X-API-Key": world.keys["sam"]}
    short = load_settings(home=world.home, min_free_disk_mb=(free_bytes(world.home) >> 20) + 4096)
    cache = short.path("web-results") / job.lower()
    __import__("shutil").rmtree(cache, ignore_errors=True)  # not yet decrypted for the page
    with in_process(short) as tight:
        r = tight.get(f"/tasks/{job}/results", headers=sam)
        assert r.status_code == 507 and "short of disk" in r.json()["detail"], r.text
    assert not cache.exists() and not list(cache.parent.glob(f".{cache.name}*"))
    r = client.get(f"/tasks/{job}/results", headers=sam)
    assert r.status_code == 200 and r.json(), r.text
    assert cache.is_dir()


def test_a_task_record_signed_by_a_stranger_gives_it_nothing(finished: tuple[FlowWorld, TestClient, str]) -> None:
    """Attack: anyone may sign a catalogue record naming any contract address. sue signs a task
    record for sam's task: the API read the newest record of an address as the task's, so sue
    was its submitter to the routes that asked the catalogue (the result's ciphertext was hers
    to download). Now the submitter is the contract's, and only its record counts."""
    from eotrust.catalog.entries import ResultInfo, TaskInfo
    from eotrust.catalog.service import Catalog
    from eotrust.party import load_party

    world, client, job = finished
    settings = load_settings(home=world.home)
    catalog = Catalog(settings)
    genuine = catalog.task(job, submitter=None)
    sue = load_party(settings, "sue")
    catalog.register(sue, TaskInfo(**{**genuine.body.model_dump(), "results_recipient": sue.age_recipient}))
    key = {"X-API-Key": world.keys["sue"]}
    results = client.get(f"/jobs/{job}/results", headers={"X-API-Key": world.keys["sam"]})
    assert results.status_code == 200, results.text
    result_cid = results.json()["shouted"]["href"].rsplit("/", 1)[1]
    for path in (f"/jobs/{job}", f"/jobs/{job}/results", f"/tasks/{job}/provenance", f"/store/{result_cid}"):
        assert client.get(path, headers=key).status_code == 403, path
    assert client.get("/jobs", headers=key).json()["jobs"] == []
    for unknown in ("not-a-task", "0x" + "1" * 40):  # no address, and no contract there: no such job
        assert client.get(f"/jobs/{unknown}", headers=key).status_code == 404, unknown

    # nor does it move where sam's results are shown: a result's STAC footprint is that of its
    # task's inputs, as the record of the contract's submitter names them (sue's names none)
    def footprints() -> list[object]:
        items = client.get("/stac/search", params={"collections": "results", "limit": 100}).json()["features"]
        return [i.get("bbox") for i in items if job in i["properties"]["title"]]

    before = footprints()
    assert before and all(before), before
    later = datetime.fromisoformat(genuine.created) + timedelta(hours=1)
    catalog.register(sue, TaskInfo(**{**genuine.body.model_dump(), "inputs": {}}), created=later)
    assert footprints() == before
    # nor is a result record sue signs for sam's task one of its results
    fake = ResultInfo(task=job, name="fake", cid=result_cid, plaintext_cid=result_cid, size=1, run_cid="", recipient="")
    catalog.register(sue, fake)
    assert footprints() == before
    # nor does it make sue the submitter the market quotes for
    quote = client.post("/processes/shout/quotations", headers=key, json={"task": job})
    assert quote.status_code == 403, quote.text


def test_files_planted_in_the_web_results_cache_are_not_served(finished: tuple[FlowWorld, TestClient, str]) -> None:
    """The page's decrypted results live under the server's home: whoever could write it put
    files into a task's cache (or made one for a task without results), and the submitter was
    served them as the task's results (an audit). Only files that are the task's recorded
    results are listed and served now."""
    world, client, job = finished
    sam = {"X-API-Key": world.keys["sam"]}
    settings = load_settings(home=world.home)
    genuine = client.get(f"/tasks/{job}/results", headers=sam).json()
    assert genuine
    cache = settings.path("web-results") / job.lower()
    (cache / "stacked.tif").write_bytes(b"the planter's bytes")
    (cache / genuine[0]["file"]).write_bytes(b"replaced")  # a genuine name, other bytes
    # the cache is dropped and the results decrypted again: the planter's bytes are not served
    assert client.get(f"/tasks/{job}/results", headers=sam).json() == genuine
    assert client.get(f"/tasks/{job}/results/stacked.tif", headers=sam).status_code == 404
    served = client.get(f"/tasks/{job}/results/{genuine[0]['file']}", headers=sam)
    assert served.status_code == 200 and served.content != b"replaced"
    # a task with no results yet: a planted cache is served as nothing
    r = client.post(
        "/processes/shout/execution",
        json={"inputs": {"scene": world.dataset_id, "tag": "early"}},
        headers={**sam, "Prefer": "respond-async"},
    )
    early = r.json()["jobID"]
    planted = settings.path("web-results") / early.lower()
    planted.mkdir(parents=True)
    (planted / "stacked.tif").write_bytes(b"the planter's bytes")
    listed = client.get(f"/tasks/{early}/results", headers=sam)
    assert listed.status_code != 200 or "stacked.tif" not in [f["file"] for f in listed.json()], listed.text
    assert client.get(f"/tasks/{early}/results/stacked.tif", headers=sam).status_code != 200


def test_a_results_cache_dropped_by_another_request_mid_check_is_rebuilt_not_a_500(
    finished: tuple[FlowWorld, TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Race: a request hashing the page's cached results while another request drops that cache
    (the other one found a planted file in it) hashed a file that was no longer there: a 500.
    The interleaving is forced here: the first hash of a cached file drops the whole cache first,
    as the other request would. The listing is the task's results all the same."""
    import shutil

    import eotrust.cid

    world, client, job = finished
    sam = {"X-API-Key": world.keys["sam"]}
    genuine = client.get(f"/tasks/{job}/results", headers=sam).json()
    assert genuine
    cache = load_settings(home=world.home).path("web-results") / job.lower()
    assert cache.is_dir()
    real = eotrust.cid.cid_of_file
    dropped: list[bool] = []

    def hash_while_another_request_drops_the_cache(path: object) -> object:
        if not dropped and cache.is_dir():
            dropped.append(True)
            shutil.rmtree(cache)
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(eotrust.cid, "cid_of_file", hash_while_another_request_drops_the_cache)
    r = client.get(f"/tasks/{job}/results", headers=sam)
    assert dropped and r.status_code == 200, r.text
    assert r.json() == genuine and cache.is_dir()
    served = client.get(f"/tasks/{job}/results/{genuine[0]['file']}", headers=sam)
    assert served.status_code == 200 and served.content
