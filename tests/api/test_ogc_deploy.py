"""OGC API - Processes - Part 2 (deploy, replace, undeploy), in process through httpx
(FastAPI's TestClient) following the specification's request examples: OWSLib has no deploy
call. The attacks come first: no key, the wrong party's key, someone else's process, a hidden
process, garbage packages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_world import FlowWorld, build_world
from fastapi.testclient import TestClient

from eotrust.errors import NotFoundError

CWL = Path(__file__).resolve().parents[1] / "data" / "cwl"
CWL_YAML = "application/cwl+yaml"


@pytest.fixture
def world(tmp_path: Path) -> FlowWorld:
    world = build_world(tmp_path / "home", submitters=("sam",))
    from eotrust.catalog.api_keys import create_api_key
    from eotrust.party import Role, create_party
    from eotrust.settings import load_settings

    settings = load_settings(home=world.home)
    world.keys["ava"], _ = create_api_key(
        settings, party=create_party(settings, "ava", Role.ALGORITHM_OWNER), scopes=["*"]
    )
    return world


@pytest.fixture
def client(world: FlowWorld) -> Iterator[TestClient]:
    from eotrust.api.app import create_app
    from eotrust.settings import load_settings

    with TestClient(create_app(load_settings(home=world.home))) as c:
        yield c


def _key(world: FlowWorld, who: str) -> dict[str, str]:
    return {"X-API-Key": world.keys[who]}


def _package() -> bytes:
    return (CWL / "shout.cwl").read_bytes()


def _deploy(
    client: TestClient,
    world: FlowWorld,
    who: str = "alan",
    body: bytes | None = None,
    ctype: str = CWL_YAML,
    **params: str,
) -> Any:
    return client.post(
        "/processes",
        content=_package() if body is None else body,
        headers={**_key(world, who), "Content-Type": ctype},
        params=params,
    )


def test_deploy_needs_an_algorithm_owners_key(client: TestClient, world: FlowWorld) -> None:
    assert client.post("/processes", content=_package(), headers={"Content-Type": CWL_YAML}).status_code == 401
    bad = client.post("/processes", content=_package(), headers={"X-API-Key": "nope", "Content-Type": CWL_YAML})
    assert bad.status_code == 401
    sam = _deploy(client, world, "sam", id="sams")
    assert sam.status_code == 403 and "algorithm owner" in sam.json()["detail"]
    assert "sams" not in [p["id"] for p in client.get("/processes").json()["processes"]]


def test_garbage_packages_are_one_clear_400(client: TestClient, world: FlowWorld) -> None:
    for body, ctype in [
        (b"", CWL_YAML),
        (b"cwlVersion: v1.2\nclass: CommandLineTool\ninputs: {x: Nope}\noutputs: []\n", CWL_YAML),
        (b"{not json", "application/json"),
        (b'{"processDescription": {}}', "application/json"),
        (b'{"executionUnit": [{"href": "http://example.org/x.cwl"}]}', "application/json"),
        (b"\x00\x01binary", "application/octet-stream"),
        # nested 200,000 deep: PyYAML recurses per level (a RecursionError was a 500)
        (b"cwlVersion: " + b"[" * 200_000 + b"]" * 200_000, CWL_YAML),
        # a billion laughs: nine levels of ten aliases each
        (
            b"a0: &a0 [lol]\n"
            + b"".join(b"a%d: &a%d [" % (i, i) + b", ".join([b"*a%d" % (i - 1)] * 10) + b"]\n" for i in range(1, 10))
            + b"cwlVersion: *a9\n",
            CWL_YAML,
        ),
    ]:
        res = _deploy(client, world, body=body, ctype=ctype)
        assert res.status_code == 400, (body, res.text)
        assert res.json()["detail"] and "Traceback" not in res.text
    assert _deploy(client, world, id="../etc").status_code == 400
    assert _deploy(client, world, id="ok", visibility="bad name!").status_code == 400


@pytest.mark.parametrize(
    "description",
    [{"id": 5}, {"id": "k1", "keywords": 5}, {"id": "k2", "keywords": [1]}, {"id": "k3", "title": ["x"]}],
    ids=["numeric-id", "keywords-not-a-list", "keywords-not-text", "title-not-text"],
)
def test_a_description_of_the_wrong_types_is_one_400(
    client: TestClient, world: FlowWorld, description: dict[str, object]
) -> None:
    """A 500 and a traceback before (an audit): the id matched as a string, keywords iterated."""
    pkg = {"processDescription": description, "executionUnit": [{"unit": yaml.safe_load(_package())}]}
    res = client.post("/processes", json=pkg, headers=_key(world, "alan"))
    assert res.status_code == 400, res.text
    assert "processDescription" in res.json()["detail"]


def test_a_package_naming_schemas_is_refused(client: TestClient, world: FlowWorld) -> None:
    """cwltool fetched them (no timeout: a host that never answered froze the server)."""
    unit = {**yaml.safe_load(_package()), "$schemas": ["http://127.0.0.1:9/s.rdf"]}
    res = client.post(
        "/processes",
        json={"processDescription": {"id": "fetcher"}, "executionUnit": [{"unit": unit}]},
        headers=_key(world, "alan"),
    )
    assert res.status_code == 400 and "$schemas" in res.json()["detail"], res.text


def test_the_server_answers_others_while_a_package_is_deployed(
    client: TestClient, world: FlowWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deploying (cwltool packing, a signature) ran on the event loop: while it worked, nobody
    else was answered (an audit: a package whose schema host never answered froze the server)."""
    import eotrust.api.deploy as routes
    from eotrust.roles.algorithm_owner.deploy import deploy as real

    entered, release = threading.Event(), threading.Event()
    released_by_others: list[bool] = []

    def slow_deploy(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        released_by_others.append(release.wait(30))  # False: nobody was answered meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(routes, "deploy", slow_deploy)
    with ThreadPoolExecutor(1) as pool:
        posted = pool.submit(_deploy, client, world, id="slow")
        assert entered.wait(60)
        assert client.get("/conformance").status_code == 200
        release.set()
        assert posted.result(timeout=120).status_code == 201
    assert released_by_others == [True]


def test_a_refused_deploy_leaves_the_published_workflows_alone(client: TestClient, world: FlowWorld) -> None:
    """A deploy of another owner's process id was refused after it had repointed the server
    home's (unsigned) published-workflow index at the caller's workflow (an audit)."""
    from api_world import WORKFLOW

    from eotrust.settings import load_settings
    from eotrust.workflow.registry import describe_published

    settings = load_settings(home=world.home)
    before = describe_published(settings, "shout").cid
    theirs = WORKFLOW.replace("tr a-z A-Z", "cat")
    refused = _deploy(client, world, "ava", body=theirs.encode(), ctype="application/x-yaml", id="shout")
    assert refused.status_code == 403, refused.text
    assert describe_published(settings, "shout").cid == before
    # and an accepted deploy names no entry of the index either: it is stored by CID
    assert _deploy(client, world, "ava", body=theirs.encode(), ctype="application/x-yaml", id="avas").status_code == 201
    with pytest.raises(NotFoundError):
        describe_published(settings, "avas")


def test_a_process_id_cannot_be_taken_through_the_catalogue(client: TestClient, world: FlowWorld) -> None:
    """An algorithm owner registered an application of another owner's process id through
    ``POST /catalog/applications``: ``/processes/shout`` became hers, and submitters' tasks ran
    her code on the data owners' data (an audit). Now the route refuses it; a record of the
    name written into the catalogue anyway makes the name nobody's process, never hers."""
    from api_world import WORKFLOW

    cid = client.post(
        "/store", content=WORKFLOW.replace("tr a-z A-Z", "cat").encode(), headers=_key(world, "ava")
    ).json()["cid"]
    app = {"name": "shout", "version": "0.2.0", "workflow_cid": cid, "inputs": ["scene"], "outputs": ["shouted"]}
    refused = client.post("/catalog/applications", json=app, headers=_key(world, "ava"))
    assert refused.status_code == 403 and "belongs to another owner" in refused.json()["detail"], refused.text
    # written into the shared catalogue anyway (its holder, or the CLI): not served as the process
    from eotrust.catalog.entries import ApplicationInfo
    from eotrust.catalog.service import Catalog
    from eotrust.party import load_party
    from eotrust.settings import load_settings

    settings = load_settings(home=world.home)
    assert client.get("/processes/shout").status_code == 200
    Catalog(settings).register(load_party(settings, "ava"), ApplicationInfo.model_validate(app))
    # which of two owners' "shout" is meant is not the server's to pick (nor the newest's, nor the
    # record that says it is older: its time is its signer's word): neither is served or run
    assert client.get("/processes/shout").status_code == 404
    assert "shout" not in [p["id"] for p in client.get("/processes").json()["processes"]]
    ran = client.post(
        "/processes/shout/execution",
        json={"inputs": {"scene": world.dataset_id, "tag": "x"}},
        headers=_key(world, "sam"),
    )
    assert ran.status_code == 404, ran.text


def test_deploy_describe_execute_shape_versions_replace_and_undeploy(client: TestClient, world: FlowWorld) -> None:
    res = _deploy(client, world, id="shout-cwl", version="1.0.0")
    assert res.status_code == 201, res.text
    assert res.headers["Location"].endswith("/processes/shout-cwl")
    app_id = res.json()["application"]
    listed = {p["id"]: p for p in client.get("/processes").json()["processes"]}
    assert listed["shout-cwl"]["version"] == "1.0.0"
    desc = client.get("/processes/shout-cwl").json()
    assert set(desc["inputs"]) == {"scene", "tag", "platform"} and set(desc["outputs"]) == {"shouted"}
    assert desc["inputs"]["tag"]["schema"]["type"] == "string"

    # the record is a catalogue application signed by the owner
    from eotrust.catalog.entries import ApplicationInfo
    from eotrust.catalog.service import Catalog
    from eotrust.settings import load_settings

    record = Catalog(load_settings(home=world.home)).get(app_id)
    record.check()
    assert isinstance(record.body, ApplicationInfo)
    assert record.owner == world.addresses["alan"] and "cwl" in record.body.keywords

    duplicate = _deploy(client, world, id="shout-cwl", version="1.0.0")
    assert duplicate.status_code == 409  # and says so in Part 2's exception type
    assert duplicate.json()["type"] == "http://www.opengis.net/def/exceptions/ogcapi-processes-2/1.0/duplicated-process"
    assert _deploy(client, world, "ava", id="shout-cwl", version="9.0.0").status_code == 403  # not hers

    # a second version, as an OGC application package (JSON)
    pkg = {
        "processDescription": {"id": "shout-cwl", "version": "2.0.0", "title": "Shout v2"},
        "executionUnit": [{"unit": yaml.safe_load(_package())}],
    }
    assert client.post("/processes", json=pkg, headers=_key(world, "alan")).status_code == 201
    assert client.get("/processes/shout-cwl").json()["version"] == "2.0.0"
    assert client.get("/processes/shout-cwl:1.0.0").json()["version"] == "1.0.0"
    assert client.get("/processes/shout-cwl").json()["versions"] == ["1.0.0", "2.0.0"]

    # replace 2.0.0 (PUT): only the owner
    changed = _package().replace(b"a word appended", b"the word appended")
    assert (
        client.put(
            "/processes/shout-cwl",
            content=changed,
            params={"version": "2.0.0"},
            headers={**_key(world, "ava"), "Content-Type": CWL_YAML},
        ).status_code
        == 403
    )
    put = client.put(
        "/processes/shout-cwl",
        content=changed,
        params={"version": "2.0.0"},
        headers={**_key(world, "alan"), "Content-Type": CWL_YAML},
    )
    assert put.status_code == 204, put.text
    assert (
        client.get("/processes/shout-cwl").json()["inputs"]["tag"]["description"] == "the word appended to the result"
    )

    # undeploy one version, then all; only the owner
    assert client.delete("/processes/shout-cwl", headers=_key(world, "ava")).status_code == 403
    assert client.delete("/processes/shout-cwl:2.0.0", headers=_key(world, "alan")).status_code == 204
    assert client.get("/processes/shout-cwl").json()["version"] == "1.0.0"
    assert client.delete("/processes/shout-cwl", headers=_key(world, "alan")).status_code == 204
    assert client.get("/processes/shout-cwl").status_code == 404
    assert client.delete("/processes/shout-cwl", headers=_key(world, "alan")).status_code == 404
    # undeployed, not erased: the record and the package stay for provenance
    assert client.get(f"/catalog/records/{app_id}").status_code == 200
    assert client.get(f"/store/{record.body.workflow_cid}").status_code in (200, 401)


def test_visibility_hides_a_process_from_everyone_not_named(client: TestClient, world: FlowWorld) -> None:
    assert _deploy(client, world, id="private", visibility="sam").status_code == 201
    assert "private" not in [p["id"] for p in client.get("/processes").json()["processes"]]
    assert client.get("/processes/private").status_code == 404
    assert client.get("/processes/private", headers=_key(world, "ava")).status_code == 404
    assert client.get("/processes/private", headers=_key(world, "sam")).status_code == 200
    assert "private" in [p["id"] for p in client.get("/processes", headers=_key(world, "sam")).json()["processes"]]
    # a hidden process cannot be executed either
    hidden = client.post(
        "/processes/private/execution",
        json={"inputs": {"scene": world.dataset_id, "tag": "x"}},
        headers=_key(world, "olga"),
    )
    assert hidden.status_code == 404
    # a wrong key is refused rather than silently treated as anonymous
    assert client.get("/processes", headers={"X-API-Key": "wrong"}).status_code == 401
    # nor undeployed by another: to it the process does not exist (a 403 naming the owner said it did)
    assert client.delete("/processes/private", headers=_key(world, "ava")).status_code == 404
    assert client.delete("/processes/private", headers=_key(world, "sam")).status_code == 403  # it sees it
    # nor its package read by anyone else (an audit: any key read the owner's code)
    package = next(
        m["value"]
        for m in client.get("/processes/private", headers=_key(world, "sam")).json()["metadata"]
        if m["role"] == "workflow"
    )
    assert client.get(f"/store/{package}", headers=_key(world, "ava")).status_code == 403
    assert client.get(f"/store/{package}", headers=_key(world, "sam")).status_code == 200
    assert client.get(f"/store/{package}", headers=_key(world, "alan")).status_code == 200


def test_eotrust_workflow_packages_deploy_too_and_conformance_is_declared(client: TestClient, world: FlowWorld) -> None:
    from api_world import WORKFLOW

    res = _deploy(
        client,
        world,
        body=WORKFLOW.replace("name: shout", "name: shout-yaml").encode(),
        ctype="application/x-yaml",
        version="0.2.0",
    )
    assert res.status_code == 201, res.text
    assert client.get("/processes/shout-yaml").json()["version"] == "0.2.0"
    conf = client.get("/conformance").json()["conformsTo"]
    for cls in ("deploy-replace-undeploy", "ogcapppkg", "cwl"):
        assert f"http://www.opengis.net/spec/ogcapi-processes-2/1.0/conf/{cls}" in conf
    doc = client.get("/openapi.json").json()
    assert {"post", "get"} <= set(doc["paths"]["/processes"]) and "delete" in doc["paths"]["/processes/{processId}"]
    json.dumps(doc)


def test_versions_deployed_within_one_second_are_in_deployment_order(
    client: TestClient, world: FlowWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records are stamped to the second: with the clock standing still, the newest version is
    still the one deployed last (not whichever record id sorts last), many times over."""
    from datetime import UTC, datetime, tzinfo

    import eotrust.catalog.deployments as deployments
    import eotrust.catalog.entries as entries

    frozen = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)

    class StillClock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]  # the frozen datetime, not a StillClock
            return frozen

    monkeypatch.setattr(entries, "datetime", StillClock)
    monkeypatch.setattr(deployments, "datetime", StillClock)
    versions = [f"1.0.{n}" for n in range(6)]
    for version in versions:
        assert _deploy(client, world, id="tick", version=version).status_code == 201
        assert client.get("/processes/tick").json()["version"] == version
    assert client.get("/processes/tick").json()["versions"] == versions
