"""Which platform runs an execution that names none. Anyone may register a platform under any
name, and the time a record says it was made is its signer's word: an execution without a
``platform`` input runs on the only platform there is, and is refused (400, one line, no task
opened) where there are several — never the "first registered" by a date an attacker chose."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from api_world import FlowWorld, look_alike_platform
from fastapi.testclient import TestClient

from eotrust.catalog.entries import Kind, PlatformInfo, make_body
from eotrust.catalog.service import Catalog
from eotrust.party import load_party
from eotrust.settings import load_settings

EXECUTION = "/processes/shout/execution"
ASYNC = {"Prefer": "respond-async"}


def _tasks(world: FlowWorld) -> list[str]:
    return [r.body.address for r in Catalog(load_settings(home=world.home)).list(Kind.TASK)]


def _platform_of(world: FlowWorld, job: str) -> str:
    """The platform record the task opened by sam names (its catalogue record, signed by sam)."""
    task = Catalog(load_settings(home=world.home)).task(job, submitter=world.addresses["sam"])
    return task.body.platform_id


def test_a_backdated_look_alike_platform_is_never_the_default(
    world: FlowWorld, api_client_factory: Callable[..., TestClient]
) -> None:
    spoof = look_alike_platform(world)
    client = api_client_factory(world.home)
    sam = {"X-API-Key": world.keys["sam"], **ASYNC}
    inputs = {"scene": world.dataset_id, "tag": "x"}

    # attack: no platform named; the look-alike is the oldest record of the name
    r = client.post(EXECUTION, json={"inputs": inputs}, headers=sam)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "\n" not in detail and "platform" in detail and "several" in detail, detail
    assert _tasks(world) == [] and client.get("/tasks", headers=sam).json() == []
    # the shared name is no answer either: it names records of two owners
    r = client.post(EXECUTION, json={"inputs": {**inputs, "platform": "karst-cloud"}}, headers=sam)
    assert r.status_code == 400 and "2 owners" in r.json()["detail"], r.text
    assert _tasks(world) == []

    # the process says so; a platform named by its record id runs there, the look-alike's too
    described = client.get("/processes/shout").json()["inputs"]["platform"]["description"]
    assert "first registered" not in described and "only" in described, described
    for chosen in (world.platform_id, spoof):
        r = client.post(EXECUTION, json={"inputs": {**inputs, "platform": chosen}}, headers=sam)
        assert r.status_code == 201, r.text
        assert _platform_of(world, r.json()["jobID"]) == chosen


def test_the_only_platform_runs_an_execution_that_names_none(
    world: FlowWorld, api_client_factory: Callable[..., TestClient]
) -> None:
    client = api_client_factory(world.home)
    sam = {"X-API-Key": world.keys["sam"], **ASYNC}
    inputs = {"scene": world.dataset_id, "tag": "x"}
    r = client.post(EXECUTION, json={"inputs": inputs}, headers=sam)
    assert r.status_code == 201, r.text
    assert _platform_of(world, r.json()["jobID"]) == world.platform_id

    # its owner signs a newer version of it (new prices, as `eotrust market` does): still one
    # platform, and its owner's newest word is the one that runs
    settings = load_settings(home=world.home)
    catalog = Catalog(settings)
    pia = load_party(settings, "pia")
    old = catalog.get(world.platform_id, Kind.PLATFORM)
    newer = catalog.register(
        pia,
        make_body(PlatformInfo, **{**old.body.model_dump(), "cpus": 4}),
        created=datetime.fromisoformat(old.created) + timedelta(seconds=1),
    )
    r = client.post(EXECUTION, json={"inputs": inputs}, headers=sam)
    assert r.status_code == 201, r.text
    assert _platform_of(world, r.json()["jobID"]) == newer.id
