"""The web page in Debian's Chromium (headless, through Playwright): it shows the catalogue,
runs the published workflow from its form, follows the task live to Finished, draws its
provenance, and leaves a screenshot in test-artifacts/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from api_world import build_world, look_alike_platform
from browser import CHROMIUM, chromium_page

if TYPE_CHECKING:
    from api_server import LiveServer

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def test_page_runs_a_workflow_to_finished(tmp_path: Path, live_server_factory: Callable[..., LiveServer]) -> None:
    from playwright.sync_api import expect

    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed: run `make sysdeps`"

    world = build_world(tmp_path / "home", submitters=("sam",))
    server = live_server_factory(world.home, "--dev-autoack", "--run-nodes")
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium_page(server.url) as (page, errors):
        # the catalogue with its footprint map
        expect(page.locator("#datasets tbody tr")).to_have_count(1)
        expect(page.locator("#footprints path.footprint")).to_have_count(1)  # Leaflet draws paths
        page.screenshot(path=str(ARTIFACTS / "web-catalogue.png"), full_page=True)

        page.fill("#api-key", world.keys["sam"])
        page.click("#key-save")
        expect(page.locator("#whoami")).to_contain_text("sam")

        page.click("button[data-tab=workflows]")
        page.click("#process-list li[data-process=shout]")
        expect(page.locator("#run-fields select[name=scene]")).to_be_visible()
        # the dataset picker starts empty (issue 19): the user chooses
        page.select_option("#run-fields select[name=scene]", world.dataset_id)
        expect(page.locator("#run-fields input[name=times]")).to_have_value("1")
        page.fill("#run-fields input[name=tag]", "browser")
        page.click("#run-submit")

        # the page switches to the task and follows its contract state live
        expect(page.locator("#task-detail")).to_be_visible(timeout=20_000)
        expect(page.locator("#task-state")).to_have_text("Finished", timeout=120_000)
        expect(page.locator("#provenance g.prov-result")).to_have_count(1, timeout=10_000)
        expect(page.locator("#history tbody tr").first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "web-task-finished.png"), full_page=True)
        assert not errors, errors


def _short_address(address: str) -> str:
    return f"{address[:8]}…{address[-6:]}"  # as app.js shortAddress


def test_the_page_asks_which_platform_when_several_share_a_name(
    tmp_path: Path, live_server_factory: Callable[..., LiveServer]
) -> None:
    """Attack: a look-alike platform (the honest one's name, an older date) is never the page's
    default. The picker must be chosen from, and tells the two apart by their owners."""
    from playwright.sync_api import expect

    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed: run `make sysdeps`"

    world = build_world(tmp_path / "home", submitters=("sam",))
    look_alike_platform(world)
    server = live_server_factory(world.home)
    sam = {"X-API-Key": world.keys["sam"]}
    with chromium_page(server.url) as (page, errors):
        page.fill("#api-key", world.keys["sam"])
        page.click("#key-save")
        expect(page.locator("#whoami")).to_contain_text("sam")
        page.click("button[data-tab=workflows]")
        page.click("#process-list li[data-process=shout]")
        picker = page.locator("#run-fields select[name=platform]")
        expect(picker).to_have_value("")
        assert picker.evaluate("select => select.required")
        offered = picker.locator("option").all_inner_texts()
        assert offered[0] == "— choose a platform —", offered
        assert sorted(offered[1:]) == sorted(
            f"karst-cloud — owner {_short_address(world.addresses[who])}" for who in ("pia", "mallory")
        ), offered
        scene = page.locator("#run-fields select[name=scene] option").all_inner_texts()
        assert any(f"owner {_short_address(world.addresses['olga'])}" in text for text in scene), scene

        page.select_option("#run-fields select[name=scene]", world.dataset_id)
        page.fill("#run-fields input[name=tag]", "browser")
        page.click("#run-submit")  # refused by the browser: a platform must be chosen
        expect(page.locator("#run-status")).to_have_text("")
        assert httpx.get(f"{server.url}/tasks", headers=sam, timeout=30).json() == []

        picker.select_option(world.platform_id)
        page.click("#run-submit")
        expect(page.locator("#task-address")).not_to_be_empty(timeout=20_000)
        address = page.locator("#task-address").inner_text()
        snap = httpx.get(f"{server.url}/tasks/{address}", headers=sam, timeout=30).json()["snapshot"]
        assert snap["platform_owner"].lower() == world.addresses["pia"].lower(), snap
        assert not errors, errors
