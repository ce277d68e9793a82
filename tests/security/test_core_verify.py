"""Attacks on `eotrust verify`:

- a platform owner deploys its own contract that answers every call with a genuine task's
  snapshot (it forwards them), and signs catalogue records naming it (the submitter's task
  record is copied and re-signed, the platform's result records too): before the fix
  `verify <forged address>` said VERIFIED, including acknowledgments by owners who never
  touched it;
- objects missing from this store: before the fix `verify` said VERIFIED (exit 0) with the
  checks skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from core_cli import cli
from fast_keys import SCRYPT_N
from flow_world import World, make_world

from eotrust.catalog.entries import ResultInfo, TaskInfo
from eotrust.errors import LedgerError
from eotrust.ledger import TaskClient
from eotrust.settings import load_settings
from eotrust.verify import verify

# EIP-1167's proxy with STATICCALL (0xfa) for DELEGATECALL (0xf4): it forwards every call to
# the genuine task and returns the answer — a contract that "is" the task to any reader.
FORWARDER = "363d3d373d3d3d363d73{}5afa3d82803e903d91602b57fd5bf3"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    mp = pytest.MonkeyPatch()
    mp.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
    mp.setenv("EOTRUST_KEYSTORE_SCRYPT_N", str(SCRYPT_N))
    mp.setenv("EOTRUST_CONFIG", "")  # no config file
    for var in ("EOTRUST_HOME", "EOTRUST_CHAIN_URL", "EOTRUST_STORE", "EOTRUST_CATALOG_URL"):
        mp.delenv(var, raising=False)
    world = make_world(load_settings(home=tmp_path_factory.mktemp("verify-attacks") / "home", step_retries=0))
    address = world.request().address
    world.answer_all(address)
    assert world.node().recover() == {address: "Finished"}
    yield world, address
    mp.undo()


def _forge(world: World, genuine: str) -> str:
    runtime = bytes.fromhex(FORWARDER.format(genuine[2:].lower()))
    creation = bytes.fromhex("61") + len(runtime).to_bytes(2, "big") + bytes.fromhex("3d81600a3d39f3") + runtime
    platform = world.parties["platform-owner"]
    forged: str | None = world.chain.deploy(platform.account, creation, action="deploy a forged task").contract_address
    assert forged is not None
    # the forged contract answers with the genuine state (its status is refused: the genuine
    # task's creation event and logs name the genuine address, not the forgery)
    assert TaskClient(world.chain, forged).state() == world.task(genuine).state()
    with pytest.raises(LedgerError, match="creation event"):
        TaskClient(world.chain, forged).status()
    task = world.catalog.task(genuine, submitter=None)
    world.catalog.register(world.parties["submitter"], TaskInfo(**{**task.body.model_dump(), "address": forged}))
    for rec in world.catalog.results(task=genuine):
        world.catalog.register(platform, ResultInfo(**{**rec.body.model_dump(), "task": forged}))
    return forged


def test_forged_task_is_not_verified(finished: tuple[World, str]) -> None:
    world, genuine = finished
    forged = _forge(world, genuine)
    verdict = verify(world.backends, forged)
    assert not verdict.ok
    failed = {c.name for c in verdict.failures}
    assert "task created by the configured factory" in failed, failed
    # nothing read from the forged contract is reported as holding
    assert not any("acknowledged" in c.name for c in verdict.checks if c.ok)
    result = cli(world.settings.home, "verify", forged)
    assert result.exit_code == 1, result.output
    assert "NOT VERIFIED" in result.output and "VERIFIED:" not in result.output.replace("NOT VERIFIED", "")


def test_genuine_task_names_its_factory_checks(finished: tuple[World, str]) -> None:
    world, genuine = finished
    verdict = verify(world.backends, genuine)
    assert verdict.ok, verdict.failures
    held = {c.name for c in verdict.checks if c.ok}
    assert {"task created by the configured factory", "task code is the factory's clone of its implementation"} <= held


def test_missing_objects_give_incomplete_and_nonzero_exit(finished: tuple[World, str]) -> None:
    world, genuine = finished
    encrypted_input = world.task(genuine).status().requests[0].input_cid
    path: Path = world.store.object_path(encrypted_input)
    aside = path.with_name(path.name + ".aside")
    shutil.move(path, aside)
    try:
        verdict = verify(world.backends, genuine)
        assert not verdict.failures
        assert not verdict.ok and verdict.name == "INCOMPLETE"
        result = cli(world.settings.home, "verify", genuine)
        assert result.exit_code == 2, result.output
        assert "INCOMPLETE" in result.output and "VERIFIED:" not in result.output
    finally:
        shutil.move(aside, path)
