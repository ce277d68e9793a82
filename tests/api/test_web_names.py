"""The web page with names other parties chose (docs/security.md): an application whose name
holds a ``/`` opens like any other, and a fetch that fails leaves a clear message on the page,
never an unhandled error. In Debian's Chromium (headless, through Playwright)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from api_world import WORKFLOW, FlowWorld, build_world
from browser import CHROMIUM, chromium_page
from waiting import wait_for

if TYPE_CHECKING:
    from api_server import LiveServer
    from fastapi.testclient import TestClient


#: A name anyone may sign for an application: a ``/``, a ``%``, a ``?`` and a ``#``.
ODD_NAME = "team/shout%20?x#y"


def _odd_world(home: Path) -> FlowWorld:
    from eotrust.backends import Backends
    from eotrust.party import load_party
    from eotrust.roles.algorithm_owner.applications import register_workflow_application
    from eotrust.settings import load_settings

    world = build_world(home, submitters=("sam",))
    settings = load_settings(home=home)
    register_workflow_application(Backends(settings), load_party(settings, "alan"), WORKFLOW, name=ODD_NAME)
    return world


def test_the_api_routes_a_process_id_as_its_client_encoded_it(
    tmp_path: Path, api_client_factory: Callable[..., TestClient]
) -> None:
    """``/processes/team%2Fshout…`` is the process ``team/shout…`` (before: 404), its
    execution URL is its own (never the process ``team`` with a path after it), and the links
    the server writes encode the name."""
    from urllib.parse import quote

    world = _odd_world(tmp_path / "home")
    client = api_client_factory(world.home)
    encoded = quote(ODD_NAME, safe="")
    described = client.get(f"/processes/{encoded}")
    assert described.status_code == 200, described.text
    assert described.json()["id"] == ODD_NAME
    assert {
        link["href"].rsplit("/processes/", 1)[1] for link in described.json()["links"] if "/processes/" in link["href"]
    } == {encoded, f"{encoded}/execution"}
    assert client.get("/processes/team%2F").status_code == 404  # another name: no such process
    assert client.get("/processes/shout").json()["id"] == "shout"  # plain names as before
    assert client.get("/processes/sh%6Fut").json()["id"] == "shout"  # an escape is decoded once
    run = client.post(
        f"/processes/{encoded}/execution",
        headers={"X-API-Key": world.keys["sam"], "Prefer": "respond-async"},
        json={"inputs": {"scene": world.dataset_id, "tag": "api"}},
    )
    assert run.status_code == 201, run.text
    assert "/processes/team/" not in client.get("/openapi.json").text  # the documented paths are as before


@pytest.mark.server
@pytest.mark.browser
@pytest.mark.slow
def test_an_application_named_with_a_slash_opens_on_the_page(
    tmp_path: Path, live_server_factory: Callable[..., LiveServer]
) -> None:
    """Before (an audit), the page listed it, but opening it asked for /processes/team%2F…,
    which the server answered 404, and the page left an unhandled error."""
    from playwright.sync_api import expect

    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed: run `make sysdeps`"
    world = _odd_world(tmp_path / "home")
    server = live_server_factory(world.home)
    with chromium_page(server.url) as (page, errors):
        page.fill("#api-key", world.keys["sam"])
        page.click("#key-save")
        expect(page.locator("#whoami")).to_contain_text("sam")
        page.click("button[data-tab=workflows]")
        odd = page.locator("#process-list li").filter(has_text=ODD_NAME)
        expect(odd).to_have_count(1)
        odd.click()
        expect(page.locator("#run-title")).to_have_text(f"Run {ODD_NAME}")
        expect(page.locator("#run-fields select[name=scene]")).to_be_visible()
        page.select_option("#run-fields select[name=scene]", world.dataset_id)
        page.fill("#run-fields input[name=tag]", "browser")
        page.click("#run-submit")  # the execution's URL names it too
        expect(page.locator("#task-address")).not_to_be_empty(timeout=20_000)
        address = page.locator("#task-address").inner_text()
        assert not errors, errors
    sam = {"X-API-Key": world.keys["sam"]}
    tasks = httpx.get(f"{server.url}/tasks", headers=sam, timeout=30).json()
    assert [t["process"] for t in tasks if t["address"] == address] == [ODD_NAME], tasks


@pytest.mark.server
@pytest.mark.browser
@pytest.mark.slow
def test_a_failed_fetch_leaves_a_message_not_an_unhandled_error(
    tmp_path: Path, live_server_factory: Callable[..., LiveServer]
) -> None:
    """Before (an audit), opening a process whose description could not be fetched (gone, a
    404, the network down) left an unhandled promise rejection and nothing on the page."""
    from playwright.sync_api import Route, expect

    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed: run `make sysdeps`"
    world = build_world(tmp_path / "home", submitters=("sam",))
    server = live_server_factory(world.home)
    with chromium_page(server.url) as (page, errors):
        page.click("button[data-tab=workflows]")
        expect(page.locator("#process-list li[data-process=shout]")).to_have_count(1)

        def gone(route: Route) -> None:
            route.fulfill(status=404, json={"title": "no such process", "detail": "process shout is gone"})

        page.route("**/processes/shout", gone)
        page.click("#process-list li[data-process=shout]")
        wait_for(
            lambda: errors or page.locator("#notice:visible").count(),
            timeout_s=10,
            what="a notice on the page (or an unhandled error)",
        )
        assert not errors, errors
        expect(page.locator("#notice")).to_contain_text("process shout is gone")
        page.unroute("**/processes/shout")
        page.route("**/processes/shout", lambda route: route.abort("connectionrefused"))
        page.click("#process-list li[data-process=shout]")
        expect(page.locator("#notice")).to_contain_text("could not reach the server")
        page.unroute("**/processes/shout")
        page.click("#process-list li[data-process=shout]")  # the server answers again: the notice goes
        expect(page.locator("#run-fields select[name=scene]")).to_be_visible()
        expect(page.locator("#notice")).to_be_hidden()
        assert not errors, errors
