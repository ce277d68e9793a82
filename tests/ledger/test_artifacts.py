"""The committed ABI and bytecode are what the Solidity sources compile to with the pinned
solc (CI installs it with `make node`); and they load without Node."""

from __future__ import annotations

import shutil

from eotrust.ledger import build
from eotrust.ledger.abi import load_artifact, task_abi


def test_artifacts_load_without_node() -> None:
    task = load_artifact("Task")
    factory = load_artifact("TaskFactory")
    assert task.bytecode and factory.bytecode
    assert task.compiler["version"].startswith("0.8.37")
    assert task.compiler["settings"]["optimizer"]["enabled"] is True
    names = {e["name"] for e in task.abi if e["type"] == "error"}
    assert {"NotPlatformOwner", "WrongState", "AlreadyAnswered"} <= names
    assert task_abi().event_topics.keys() >= {"TaskCreated", "StateChanged", "RequestChanged", "ResultAdded"}


def test_no_string_reverts_in_the_sources() -> None:
    for source in build.CONTRACTS_DIR.glob("*.sol"):
        text = source.read_text()
        assert "require(" not in text and 'revert("' not in text, source.name


def test_committed_artifacts_match_the_sources() -> None:
    assert (build.CONTRACTS_DIR / "node_modules" / "solc" / "package.json").is_file() and shutil.which("node"), (
        "the pinned solc is not installed (contracts/node_modules: run `make node`)"
    )
    artifacts = build.compile_contracts()
    stale = build.stale_artifacts(artifacts)
    assert not stale, f"artifacts out of date: {stale}; run `make contracts` and commit"
    pinned = (build.CONTRACTS_DIR / "package.json").read_text()
    compiler = artifacts["Task"]["compiler"]
    assert isinstance(compiler, dict)
    assert f'"solc": "{compiler["version"].split("+")[0]}"' in pinned
