"""A usage record and a quote shown by its CID are checked against this chain's task record
and results: a dev chain started afresh gives its tasks the previous chain's addresses, and the
submitter's record of the previous chain's task at the same address is another task's."""

from __future__ import annotations

import json

import pytest
from dev_chain import restart_world_chain
from flow_world import World
from typer.testing import CliRunner, Result

from eotrust.cli.main import app
from eotrust.roles.submitter.request import TaskRequest, open_task

runner = CliRunner()


def _cli(world: World, *args: str) -> Result:
    return runner.invoke(app, ["--home", str(world.settings.home), *args])


def _open_paid(world: World) -> str:
    req = TaskRequest(
        application=world.application.id,
        platform=world.platform.id,
        inputs={"lulc": world.datasets["labels"].id, "cloud_mask": world.datasets["clouds"].id},
    )
    return open_task(world.backends, world.parties["submitter"], req, paid=True).address


def test_a_fresh_chains_quote_and_usage_are_shown_and_billed_beside_a_previous_chains_task(
    market: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, showing a quote by its CID and re-checking a usage record (the bill) read every
    task record of the address, of whichever chain: on a fresh dev chain the submitter's record
    of the previous chain's task at the same address differs from this one's, so the quote
    could not be shown and the task could not be billed (`signed two different records`)."""
    old = _open_paid(market)
    fresh = restart_world_chain(market, monkeypatch)
    address = _open_paid(fresh)
    assert address == old and fresh.chain.key != market.chain.key

    r = _cli(fresh, "quote", address, "--as", "platform-owner", "--json")
    assert r.exit_code == 0, r.output
    quoted = json.loads(r.stdout)["cid"]
    r = _cli(fresh, "quote", quoted, "--json")  # shown by its CID, checked against this chain's record
    assert r.exit_code == 0, (r.output, r.exception)
    assert json.loads(r.stdout)["cid"] == quoted

    r = _cli(fresh, "usage", address, "--as", "platform-owner", "--json")  # never ran: its failure terms
    assert r.exit_code == 0, (r.output, r.exception)
    usage = json.loads(r.stdout)["cid"]
    r = _cli(fresh, "bill", address, "--json")
    assert r.exit_code == 0, (r.output, r.exception)
    bill = json.loads(r.stdout)
    assert (bill["quote_cid"], bill["usage_cid"]) == (quoted, usage)
