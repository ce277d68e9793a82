"""Every route that takes a process id takes any name its signer chose (docs/security.md): a
name with a ``/`` (sent encoded, ``team%2Fshout``) is quoted, replaced and undeployed like any
other, and a name with a ``:`` opens, while ``name:version`` still selects a version; where both
readings name a process (one party's ``a:1.0`` beside another's ``a`` of version ``1.0``) the
id is refused as ambiguous, never silently given to either, and ``?version=`` says which."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from api_world import WORKFLOW, build_world, priced_task
from fastapi.testclient import TestClient

GWEI = 10**9
SLASHED = "team/shout"
CWL = Path(__file__).resolve().parents[1] / "data" / "cwl"


def test_a_process_named_with_a_slash_is_quoted(tmp_path: Path, api_client_factory: Callable[..., TestClient]) -> None:
    """Before (an audit), ``POST``/``GET /processes/team%2Fshout/quotations`` were 404s."""
    from eotrust.backends import Backends
    from eotrust.party import load_party
    from eotrust.roles.algorithm_owner.applications import register_workflow_application
    from eotrust.settings import load_settings

    world = build_world(tmp_path / "home", submitters=("sam",))
    settings = load_settings(home=world.home)
    app = register_workflow_application(Backends(settings), load_party(settings, "alan"), WORKFLOW, name=SLASHED)
    task = priced_task(world, app.id, {"flat": 3 * GWEI})
    client = api_client_factory(world.home)
    key = {"X-API-Key": world.keys["sam"]}
    encoded = quote(SLASHED, safe="")
    assert client.post("/processes/team%2F/quotations", headers=key, json={"task": task}).status_code == 404
    asked = client.post(f"/processes/{encoded}/quotations", headers=key, json={"task": task})
    assert asked.status_code == 201, asked.text
    assert asked.json()["processID"] == SLASHED
    listed = client.get(f"/processes/{encoded}/quotations", headers=key)
    assert [q["id"] for q in listed.json()["quotations"]] == [asked.json()["id"]], listed.text
    assert client.get("/processes/team%2F/quotations", headers=key).json()["quotations"] == []


def test_put_and_delete_name_a_process_with_a_slash_as_sent(
    tmp_path: Path, api_client_factory: Callable[..., TestClient]
) -> None:
    """``PUT``/``DELETE /processes/team%2Fshout`` answer for ``team/shout``. Deployment ids are
    plain names (1-100 letters, digits, ``_.-``), so such a process (registered from the CLI) is
    not replaced or undeployed over HTTP; before (an audit), the answers named the router's
    stand-in for the id (``no deployed process '~d431…'``), not the process asked for."""
    from eotrust.backends import Backends
    from eotrust.party import load_party
    from eotrust.roles.algorithm_owner.applications import register_workflow_application
    from eotrust.settings import load_settings

    world = build_world(tmp_path / "home", submitters=("sam",))
    settings = load_settings(home=world.home)
    register_workflow_application(Backends(settings), load_party(settings, "alan"), WORKFLOW, name=SLASHED)
    client = api_client_factory(world.home)
    alan = {"X-API-Key": world.keys["alan"], "Content-Type": "application/cwl+yaml"}
    encoded = quote(SLASHED, safe="")
    gone = client.delete(f"/processes/{encoded}", headers=alan)
    assert gone.status_code == 404 and gone.json()["detail"].startswith(f"no deployed process {SLASHED!r}"), gone.text
    put = client.put(f"/processes/{encoded}", content=(CWL / "shout.cwl").read_bytes(), headers=alan)
    assert put.status_code == 400 and f"process id {SLASHED!r} is not" in put.json()["detail"], put.text
    assert client.get(f"/processes/{encoded}").json()["id"] == SLASHED  # still there


def test_a_name_with_a_colon_opens_and_name_version_still_selects(
    tmp_path: Path, api_client_factory: Callable[..., TestClient]
) -> None:
    """Before (an audit), ``/processes/shout:odd`` read as version ``odd`` of ``shout`` (a 404
    for the application named ``shout:odd``), and another party's ``shout:0.1.0`` was never
    reachable (nor ``?version=``, which was ignored)."""
    from eotrust.backends import Backends
    from eotrust.party import Role, create_party, load_party
    from eotrust.roles.algorithm_owner.applications import register_workflow_application
    from eotrust.settings import load_settings

    world = build_world(tmp_path / "home", submitters=("sam",))
    settings = load_settings(home=world.home)
    backends = Backends(settings)
    alan = load_party(settings, "alan")
    register_workflow_application(backends, alan, WORKFLOW, name="shout:odd", version="1.0")
    client = api_client_factory(world.home)
    odd = client.get("/processes/shout:odd")
    assert odd.status_code == 200, odd.text
    assert (odd.json()["id"], odd.json()["version"]) == ("shout:odd", "1.0")
    assert odd.json()["versions"] == ["1.0"]
    assert client.get("/processes/shout:odd:1.0").json()["id"] == "shout:odd"  # name:version, the name with a ':'
    assert client.get("/processes/shout:odd:9").status_code == 404
    assert client.get("/processes/shout").json()["id"] == "shout"  # plain names as before
    old = client.get("/processes/shout:0.1.0")  # the documented id:version form, as before
    assert (old.json()["id"], old.json()["version"]) == ("shout", "0.1.0"), old.text
    assert client.get("/processes/shout", params={"version": "0.1.0"}).json()["version"] == "0.1.0"
    # another owner names an application `shout:0.1.0`: the id now names two processes
    mallory = create_party(settings, "mallory", Role.ALGORITHM_OWNER)
    register_workflow_application(backends, mallory, WORKFLOW, name="shout:0.1.0")
    both = client.get("/processes/shout:0.1.0")
    assert both.status_code == 400, both.text
    assert "names more than one process" in both.json()["detail"] and "?version=" in both.json()["detail"]
    sam = {"X-API-Key": world.keys["sam"], "Prefer": "respond-async"}
    run = client.post(
        "/processes/shout:0.1.0/execution", headers=sam, json={"inputs": {"scene": world.dataset_id, "tag": "x"}}
    )
    assert run.status_code == 400, run.text  # nor run as either
    theirs = client.get("/processes/shout:0.1.0", params={"version": "0.1.0"})  # the id is the exact name
    assert (theirs.json()["id"], theirs.json()["metadata"][2]["value"].lower()) == (
        "shout:0.1.0",
        mallory.address.lower(),
    ), theirs.text
    ours = client.get("/processes/shout", params={"version": "0.1.0"})
    assert (ours.json()["id"], ours.json()["metadata"][2]["value"].lower()) == ("shout", alan.address.lower()), (
        ours.text
    )
    assert client.get("/processes/shout:odd", params={"version": "2.0"}).status_code == 404
