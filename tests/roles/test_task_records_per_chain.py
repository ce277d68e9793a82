"""The catalogue's task and result records name the chain their contract lives on: a dev chain
started afresh (the embedded chain's directory removed, anvil restarted) gives the same
submitter's next task the previous chain's address, and the previous chain's records of that
address must neither stop the new task nor stand in for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from dev_chain import restart_world_chain
from flow_world import World

from eotrust.catalog.entries import Kind, Record, TaskInfo
from eotrust.cid import canonical_json
from eotrust.errors import IntegrityError
from eotrust.roles.submitter.collect import collect_results


def test_a_fresh_chains_task_at_a_previous_tasks_address_runs_with_its_own_record(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before, task records named the contract's address alone: on a fresh dev chain the
    submitter's new task (other parameters) at the previous task's address had two different
    records signed by its submitter, so its platform node refused it ("signed two different
    records of task …") and it failed; and the previous chain's result records were listed as
    the new task's."""
    old = world.request().address
    world.answer_all(old)
    assert world.node().recover() == {old: "Finished"}
    old_results = {r.body.cid for r in world.catalog.results(task=old)}
    assert old_results

    fresh = restart_world_chain(world, monkeypatch)
    address = fresh.request(pause=0.01).address
    assert address == old and fresh.chain.key != world.chain.key
    fresh.answer_all(address)
    assert fresh.node().recover() == {address: "Finished"}, fresh.logs[-3:]  # before: Failed

    record = fresh.catalog.task(address, submitter=fresh.parties["submitter"].account.address, chain=fresh.chain.key)
    assert record.body.params == {"pause": 0.01} and record.body.chain == fresh.chain.key
    mine = fresh.catalog.results(task=address, chain=fresh.chain.key)
    assert {r.body.cid for r in mine} == set(fresh.task(address).status().result_cids)
    assert not old_results & {r.body.cid for r in mine}
    collected = collect_results(fresh.backends, fresh.parties["submitter"], address, tmp_path / "out")
    assert {r.name for r in collected} == {"digest", "stacked", "run-record"}


def test_a_task_record_made_before_records_named_their_chain_still_counts(world: World) -> None:
    """A record of the earlier format (no ``chain`` in its signed body) keeps its id and
    signature, and counts for its task where no record of this chain names the address."""
    submitter = world.parties["submitter"]
    opened = world.request()
    body = opened.record.body
    assert body.chain == world.chain.key
    earlier = TaskInfo(**body.model_dump(exclude={"chain"}))
    assert "chain" not in earlier.canonical()
    record = Record.sign(Kind.TASK, earlier, submitter.account)
    record.check()
    # a body without the field signs exactly the bytes it signed before the field existed
    legacy = {k: v for k, v in body.model_dump(mode="json").items() if k != "chain"}
    envelope = {"kind": "task", "owner": record.owner, "created": record.created, "body": legacy}
    assert record.signed_bytes() == canonical_json(envelope)
    # the chain is inside the signed body: a record moved to another chain no longer checks
    moved = record.model_copy(update={"body": body.model_copy(update={"chain": "31337-0x" + "cd" * 32})})
    with pytest.raises(IntegrityError):
        moved.check()

    # the earlier-format record alone counts for a task of any chain (nothing of this chain yet)
    address = "0x" + "12" * 20
    stray = TaskInfo(**{**earlier.model_dump(), "address": address})
    world.catalog.add(Record.sign(Kind.TASK, stray, submitter.account))
    got = world.catalog.task(address, submitter=submitter.account.address, chain=world.chain.key)
    assert got.body.chain is None
    # a record of this chain wins over the earlier-format one (which may be a previous chain's)
    mine = TaskInfo(**{**stray.model_dump(), "params": {"pause": 0.5}, "chain": world.chain.key})
    world.catalog.add(Record.sign(Kind.TASK, mine, submitter.account))
    got = world.catalog.task(address, submitter=submitter.account.address, chain=world.chain.key)
    assert got.body == mine
    # and a record of another chain never counts for this one
    other = "31337-0x" + "ab" * 32
    theirs = TaskInfo(**{**stray.model_dump(), "params": {"pause": 0.7}, "chain": other})
    world.catalog.add(Record.sign(Kind.TASK, theirs, submitter.account))
    got = world.catalog.task(address, submitter=submitter.account.address, chain=world.chain.key)
    assert got.body == mine
    assert world.catalog.task(address, submitter=submitter.account.address, chain=other).body == theirs
