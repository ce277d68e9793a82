"""Data-use policies: a dataset's owner allows some applications (and platforms); its answer
refuses anything else automatically and records why; verify shows each policy check."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from flow_world import PLATFORM, World
from market_world import Policies, make_market_world

from eotrust.market.notes import task_notes
from eotrust.market.policy import REFUSAL_KIND
from eotrust.market.signed import load_document
from eotrust.roles.owners.answer import answer_task
from eotrust.settings import load_settings


def _world(tmp_path: Path, policies: Policies | None) -> World:
    return make_market_world(load_settings(home=tmp_path / "home", step_retries=0), policies=policies)


def test_an_application_the_policy_does_not_allow_is_refused_and_why_is_recorded(tmp_path: Path) -> None:
    world = _world(
        tmp_path,
        lambda parties, app: {
            "labels": {"applications": [{"name": "another-app", "owner": parties["algorithm-owner"].account.address}]}
        },
    )
    address = world.request().address
    answers = answer_task(world.backends, world.parties["owner-b"], address)
    assert [a.acknowledged for a in answers] == [False]
    assert "does not allow application 'tiny-stack'" in answers[0].detail
    assert world.state(address) == "Nacked"
    # why, signed by the owner and stored by CID
    [noted] = list(task_notes(world.settings, world.chain, "refusals", address).iterdir())
    document = load_document(world.store, noted.name, REFUSAL_KIND)
    assert document.signer == world.parties["owner-b"].account.address
    assert document.body["task"] == address and "another-app" in document.body["reason"]


def test_a_platform_the_policy_does_not_allow_is_refused(tmp_path: Path) -> None:
    world = _world(
        tmp_path,
        lambda parties, app: {
            "clouds": {"applications": [{"cid": app.id}], "platforms": [{"cid": "bafy-not-this-platform"}]}
        },
    )
    address = world.request().address
    answers = answer_task(world.backends, world.parties["owner-a"], address)
    assert not answers[0].acknowledged and f"does not allow platform '{PLATFORM}'" in answers[0].detail
    assert world.state(address) == "Nacked"


def test_allowed_uses_run_and_verify_shows_each_policy_check(tmp_path: Path) -> None:
    from eotrust.verify import verify

    world = _world(
        tmp_path,
        lambda parties, app: {
            "labels": {
                "applications": [{"cid": app.body.workflow_cid}],
                "platforms": [{"name": PLATFORM, "owner": parties["platform-owner"].account.address}],
            },
            "clouds": {"applications": [{"cid": app.id}]},
        },
    )
    address = world.request().address
    world.answer_all(address)
    assert world.node().recover() == {address: "Finished"}
    verdict = verify(world.backends, address)
    policy = {c.name: c for c in verdict.checks if "policy allows" in c.name}
    assert set(policy) == {
        "input 'lulc': policy allows application 'tiny-stack'",
        "input 'lulc': policy allows platform 'test-platform'",
        "input 'cloud_mask': policy allows application 'tiny-stack'",
        "input 'cloud_mask': policy allows platform 'test-platform'",
    }
    assert all(c.ok for c in policy.values()), json.dumps([c.detail for c in policy.values()])
    assert policy["input 'cloud_mask': policy allows platform 'test-platform'"].detail == "any platform"
    assert verdict.ok


def test_a_task_naming_a_record_from_before_the_policy_is_held_to_it(tmp_path: Path) -> None:
    from market_world import priced

    world = _world(tmp_path, None)
    # owner-b's newest record of the same file forbids this application
    newest = world.catalog.register(
        world.parties["owner-b"],
        priced(world.datasets["labels"], policy={"applications": [{"cid": "bafy-some-other-app"}]}),
        created=_later(world.datasets["labels"].created),
    )
    assert newest.id != world.datasets["labels"].id
    address = world.request().address  # names the older record, without the policy
    answers = answer_task(world.backends, world.parties["owner-b"], address)
    assert not answers[0].acknowledged and "does not allow application" in answers[0].detail


def _later(created: str) -> datetime:
    from datetime import timedelta

    return datetime.fromisoformat(created) + timedelta(seconds=1)
