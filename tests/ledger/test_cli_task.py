"""`eotrust task …`: the whole lifecycle from the command line, `status` showing a real
contract the way the seed's `task-manager status` did, `--json`, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from ledger_helpers import CID_A, CID_B
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.ledger import ContractRevertError
from eotrust.ledger.models import TASK_EVENTS_ADAPTER
from eotrust.party import create_party
from eotrust.settings import Settings

runner = CliRunner()


@pytest.fixture
def world(settings: Settings) -> dict[str, str]:
    parties = {
        "alice": "submitter",
        "bob": "algorithm-owner",
        "carol": "platform-owner",
        "dave": "data-owner",
        "erin": "data-owner",
    }
    return {name: create_party(settings, name, role).address for name, role in parties.items()}


def run(settings: Settings, *args: str) -> str:
    result = runner.invoke(app, ["--home", str(settings.home), "task", *args], terminal_width=200)
    assert result.exit_code == 0, f"{args}: {result.output} {result.exception!r}"
    return result.stdout


def run_json(settings: Settings, *args: str) -> Any:
    """The command's ``--json`` output (an object or a list)."""
    return json.loads(run(settings, *args, "--json"))


def test_lifecycle_from_the_command_line(settings: Settings, world: dict[str, str]) -> None:
    created = run_json(
        settings,
        "create",
        "--as",
        "alice",
        "--application",
        "sentinel-2-segmentation",
        "--application-owner",
        "bob",
        "--platform",
        "gpu-cluster",
        "--platform-owner",
        world["carol"],
        "--request",
        f"ds-slovenia={world['dave']}",
    )
    task = created["task"]
    assert created["requests"] == [0] and created["gas_used"] > 0
    assert run_json(settings, "add-request", task, "--as", "alice", "--dataset", "ds-two", "--owner", "erin")[
        "requests"
    ] == [1]
    run(settings, "lock", task, "--as", "alice")
    assert run_json(settings, "ack", task, "--as", "bob")["acknowledged"] == ["application request"]
    assert run_json(settings, "ack", task, "--as", "carol")["acknowledged"] == ["platform request"]
    run(settings, "ack", task, "--as", "dave", "--input-cid", CID_B)
    run(settings, "ack", task, "--as", "erin", "--request", "1", "--input-cid", CID_B)
    started = run_json(
        settings, "start", task, "--as", "carol", "--execution-id", "6f1c2a4e-8a56-4c0f-9d32-1f0a0b7f3d11"
    )
    assert started["execution_id"] == "6f1c2a4e-8a56-4c0f-9d32-1f0a0b7f3d11"
    assert run_json(settings, "add-result", task, "--as", "carol", "--cid", CID_A)["index"] == 0
    run(settings, "finish", task, "--as", "carol")

    shown = run(settings, "status", task)
    for line in (
        f"task owner                 {world['alice']}",
        "task state                 Finished",
        "results security policy    age X25519: age1",
        f"platform owner             {world['carol']}",
        "platform status            Acknowledged",
        "execution id               6f1c2a4e-8a56-4c0f-9d32-1f0a0b7f3d11",
        f"application owner          {world['bob']}",
        "application status         Acknowledged",
        f"data owner               {world['erin']}",
        f"input IPFS address       /ipfs/{CID_B}",
        f"result IPFS address      /ipfs/{CID_A}",
    ):
        assert line in shown, f"{line!r} not in\n{shown}"
    snap = run_json(settings, "status", task)
    assert snap["state"] == "Finished" and snap["results"][0]["cid"] == CID_A
    assert snap["requests"][1]["owner"] == world["erin"]

    history = run_json(settings, "history", task)
    assert history[0]["name"] == "TaskCreated" and history[-1]["new"] == "Finished"
    # each event has its own fields only, and the JSON reads back as the typed events
    events = TASK_EVENTS_ADAPTER.validate_python(history)
    assert [type(e).__name__ for e in events] == [e["name"] for e in history]
    started = next(e for e in history if e["name"] == "Started")
    assert started["execution_id"] == "6f1c2a4e-8a56-4c0f-9d32-1f0a0b7f3d11"
    assert not {"old", "new", "cid", "kind"} & set(started)
    assert "Running -> Finished" in run(settings, "history", task)

    listed = json.loads(run(settings, "list", "--owner", "alice", "--json"))
    assert [t["task"] for t in listed] == [task] and listed[0]["state"] == "Finished"
    assert json.loads(run(settings, "list", "--owner", "bob", "--json")) == []


def test_refusal_and_failure(settings: Settings, world: dict[str, str]) -> None:
    base = ["--application", "a", "--application-owner", "bob", "--platform", "p", "--platform-owner", "carol"]
    nacked = run_json(settings, "create", "--as", "alice", *base, "-r", "d=dave")["task"]
    run(settings, "lock", nacked, "--as", "alice")
    assert run_json(settings, "nack", nacked, "--as", "dave")["refused"] == "resource request #0"
    assert run_json(settings, "status", nacked)["state"] == "Nacked"

    failed = run_json(settings, "create", "--as", "alice", *base)["task"]
    run(settings, "lock", failed, "--as", "alice")
    run(settings, "ack", failed, "--as", "bob")
    run(settings, "ack", failed, "--as", "carol")
    run(settings, "start", failed, "--as", "carol")
    run(settings, "fail", failed, "--as", "carol", "--reason-cid", CID_A)
    snap = run_json(settings, "status", failed)
    assert snap["state"] == "Failed" and snap["failure"] == CID_A
    assert "failure reason" in run(settings, "status", failed)


def test_wrong_party_is_refused(settings: Settings, world: dict[str, str]) -> None:
    task = run_json(
        settings,
        "create",
        "--as",
        "alice",
        "--application",
        "a",
        "--application-owner",
        "bob",
        "--platform",
        "p",
        "--platform-owner",
        "carol",
    )["task"]
    run(settings, "lock", task, "--as", "alice")
    result = runner.invoke(app, ["--home", str(settings.home), "task", "ack", task, "--as", "bob", "--platform"])
    assert isinstance(result.exception, ContractRevertError)
    assert result.exception.message == (
        f"only the platform owner can acknowledge the platform request; you are {world['bob']}"
    )


def test_errors_are_one_line_without_traceback(settings: Settings, world: dict[str, str]) -> None:
    task = run_json(
        settings,
        "create",
        "--as",
        "alice",
        "--application",
        "a",
        "--application-owner",
        "bob",
        "--platform",
        "p",
        "--platform-owner",
        "carol",
    )["task"]
    env = {**os.environ, "EOTRUST_HOME": str(settings.home), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", "task", "start", task, "--as", "bob"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"error: only the platform owner can start the task; you are {world['bob']}" in proc.stderr
    assert "NotPlatformOwner" in proc.stderr
