"""`eotrust verify`: passes on a clean result, and names exactly what a flipped bit broke."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_world import World, flip_byte, make_world

from eotrust.settings import load_settings
from eotrust.verify import Verdict, verify


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    mp = pytest.MonkeyPatch()
    mp.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
    mp.setenv("EOTRUST_CONFIG", "")  # no config file
    for var in ("EOTRUST_HOME", "EOTRUST_CHAIN_URL", "EOTRUST_STORE", "EOTRUST_CATALOG_URL"):
        mp.delenv(var, raising=False)
    world = make_world(load_settings(home=tmp_path_factory.mktemp("verify") / "home", step_retries=0))
    address = world.request().address
    world.answer_all(address)
    assert world.node().recover() == {address: "Finished"}
    yield world, address
    mp.undo()


def _verdict(world: World, target: str) -> Verdict:
    return verify(world.backends, target)


def _failed(verdict: Verdict) -> dict[str, str]:
    return {c.name: c.detail for c in verdict.failures}


def test_clean_task_and_result_verify(finished: tuple[World, str]) -> None:
    world, address = finished
    verdict = verify(world.backends, address, identity=world.parties["submitter"].age_identity)
    assert verdict.ok, _failed(verdict)
    names = {c.name for c in verdict.checks if c.ok}
    assert "run used the application's workflow" in names
    assert "run consumed input 'cloud_mask' as registered" in names
    assert "result 'digest': decrypts to the recorded plaintext" in names
    result_cid = world.task(address).status().result_cids[0]
    by_result = _verdict(world, result_cid)
    assert by_result.ok and by_result.task == address


def test_checking_the_results_writes_no_plaintext_anywhere(
    finished: tuple[World, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The submitter's verify decrypts each result only to recompute its CID: before, it wrote
    each plaintext into a temporary directory (another copy of the results on the disk, as large
    as they are); now nothing is written, so it verifies where no temporary directory exists."""
    import tempfile

    world, address = finished
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-directory"))
    verdict = verify(world.backends, address, identity=world.parties["submitter"].age_identity)
    assert verdict.ok, _failed(verdict)
    assert "result 'digest': decrypts to the recorded plaintext" in {c.name for c in verdict.checks if c.ok}
    assert not (tmp_path / "no-such-directory").exists()


def _restore(store_file: Path, data: bytes) -> None:
    store_file.write_bytes(data)


def test_flipped_bit_in_a_stored_input_is_named(finished: tuple[World, str]) -> None:
    world, address = finished
    snap = world.task(address).status()
    clouds = next(r for r in snap.requests if r.dataset_record == world.datasets["clouds"].id)
    cid = clouds.input_cid
    assert cid is not None  # the owner's ack stored the input
    block, saved = flip_byte(world.store, cid)
    try:
        failed = _failed(_verdict(world, address))
        assert list(failed) == ["input 'cloud_mask': encrypted input stored"]
        assert cid in failed["input 'cloud_mask': encrypted input stored"]
    finally:
        _restore(block, saved)
    assert _verdict(world, address).ok


def test_flipped_bit_in_the_run_record_is_named(finished: tuple[World, str]) -> None:
    world, address = finished
    run = next(r for r in world.catalog.results(task=address) if r.body.name == "run-record")
    block, saved = flip_byte(world.store, run.body.cid)
    try:
        failed = _failed(_verdict(world, address))
        assert "result 'run-record': stored" in failed
        assert "run record readable" in failed
        assert all(name.startswith(("result 'run-record'", "run record")) for name in failed)
    finally:
        _restore(block, saved)


def test_flipped_bit_in_a_result_is_named(finished: tuple[World, str]) -> None:
    world, address = finished
    digest = next(r for r in world.catalog.results(task=address) if r.body.name == "digest")
    block, saved = flip_byte(world.store, digest.body.cid)
    try:
        failed = _failed(_verdict(world, digest.body.cid))
        assert list(failed) == ["result 'digest': stored"]
    finally:
        _restore(block, saved)


@pytest.mark.parametrize(
    ("table", "column", "value", "check", "field"),
    [
        ("catalog_datasets", "title", "'clouds!'", "input 'cloud_mask': dataset record", "title"),
        (
            "catalog_applications",
            "workflow_cid",
            "'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'",
            "application record",
            "workflow_cid",
        ),
        ("catalog_platforms", "cpus", "64", "platform record", "cpus"),
        ("catalog_tasks", "params", "'{\"fail\": 0}'", "task record", "params"),
    ],
)
def test_tampered_catalogue_row_is_named(
    finished: tuple[World, str], table: str, column: str, value: str, check: str, field: str
) -> None:
    world, address = finished
    db = sqlite3.connect(world.settings.catalog_database_url.removeprefix("sqlite:///"))
    where = "title = 'clouds'" if table == "catalog_datasets" else "1 = 1"
    saved = db.execute(f"SELECT rowid, {column} FROM {table} WHERE {where}").fetchall()
    db.execute(f"UPDATE {table} SET {column} = {value} WHERE {where}")
    db.commit()
    try:
        failed = _failed(_verdict(world, address))
        assert check in failed, failed
        assert f"field '{field}'" in failed[check]
    finally:
        for rowid, old in saved:
            db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (old, rowid))
        db.commit()
    assert _verdict(world, address).ok


def test_verify_command_exit_status_and_verdict(finished: tuple[World, str]) -> None:
    from typer.testing import CliRunner

    from eotrust.cli.main import app

    world, address = finished
    home = str(world.settings.home_dir)
    ok = CliRunner().invoke(app, ["--home", home, "verify", address, "--as", "submitter"])
    assert ok.exit_code == 0, ok.output
    assert "VERIFIED" in ok.output and "NOT VERIFIED" not in ok.output
    digest = next(r for r in world.catalog.results(task=address) if r.body.name == "digest")
    path, saved = flip_byte(world.store, digest.body.cid)
    try:
        bad = CliRunner().invoke(app, ["--home", home, "verify", digest.body.cid, "--json"])
        assert bad.exit_code == 1
        report = json.loads(bad.output)
        assert report["ok"] is False and report["task"] == address
        assert [c["name"] for c in report["checks"] if c["ok"] is False] == ["result 'digest': stored"]
    finally:
        _restore(path, saved)


def test_a_run_record_of_other_steps_or_other_code_is_named(finished: tuple[World, str]) -> None:
    """The platform attests to what it ran; verify compared the run record with the platform's
    other claims (inputs, outputs, the workflow's CID) but not with the workflow itself, so a
    record of other steps, or of a step run by other code, verified (an audit). Here the
    platform's node records the first task's (genuine) results for a second task, with a run
    record that says one step ran another service, then one with a step of its own."""
    from eotrust.nodes.runner import RUN_RECORD
    from eotrust.workflow.record import read_run_record

    world, first = finished
    node = world.node()
    genuine = node.ctx.journal.load(first)
    assert genuine.run_cid is not None
    run = read_run_record(world.store, genuine.run_cid)
    other_code = world.store.put_bytes(b"another program")
    step = run.steps[0]
    for forged_steps, named in (
        (
            [step.model_copy(update={"service_cid": other_code}), *run.steps[1:]],
            f"{step.step} ran service {other_code}",
        ),
        ([*run.steps, step.model_copy(update={"step": "exfiltrate"})], "the workflow has no exfiltrate"),
    ):
        forged = world.store.put_bytes(run.model_copy(update={"steps": forged_steps}).canonical())
        second = world.request().address
        world.answer_all(second)
        results = [
            r.model_copy(update={"cid": forged, "plaintext_cid": forged}) if r.name == RUN_RECORD else r
            for r in genuine.results
        ]
        lie = genuine.model_copy(update={"address": second, "run_cid": forged, "results": results})
        node.ctx.journal.save(lie)  # the platform's own signed entry: the platform lies
        assert node.recover() == {second: "Finished"}
        failed = _failed(_verdict(world, second))
        assert list(failed) == ["run's steps are the workflow's"] and named in failed["run's steps are the workflow's"]
