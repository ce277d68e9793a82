"""`eotrust party …`: create, list, show, export, verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.errors import IntegrityError, InvalidInputError, PartyError
from eotrust.party import load_party
from eotrust.settings import Settings

runner = CliRunner()


@pytest.fixture
def home(settings: Settings) -> list[str]:
    return ["--home", str(settings.home)]


def test_create_list_show(home: list[str], settings: Settings) -> None:
    result = runner.invoke(app, [*home, "party", "create", "alice", "--role", "data-owner"])
    assert result.exit_code == 0, result.output
    assert "created party alice (data-owner)" in result.stdout
    runner.invoke(app, [*home, "party", "create", "bob", "--role", "submitter"])
    cards = json.loads(runner.invoke(app, [*home, "party", "list", "--json"]).stdout)
    assert [(c["name"], c["role"]) for c in cards] == [("alice", "data-owner"), ("bob", "submitter")]
    shown = json.loads(runner.invoke(app, [*home, "party", "show", "alice", "--json"]).stdout)
    assert shown["address"] == load_party(settings, "alice").address
    table = runner.invoke(app, [*home, "party", "list"], terminal_width=200).stdout
    assert "alice" in table and "data-owner" in table


def test_export_and_verify(home: list[str], tmp_path: Path) -> None:
    runner.invoke(app, [*home, "party", "create", "carol", "--role", "platform-owner"])
    card = tmp_path / "carol.json"
    assert runner.invoke(app, [*home, "party", "export", "carol", "-o", str(card)]).exit_code == 0
    ok = runner.invoke(app, ["party", "verify", str(card)])
    assert ok.exit_code == 0 and ok.stdout.startswith("valid: carol (platform-owner) 0x")
    forged = json.loads(card.read_text()) | {"role": "submitter"}
    card.write_text(json.dumps(forged))
    assert isinstance(runner.invoke(app, ["party", "verify", str(card)]).exception, IntegrityError)
    stdout_card = runner.invoke(app, [*home, "party", "export", "carol"]).stdout
    assert json.loads(stdout_card)["name"] == "carol"


def test_passphrase_prompt(home: list[str], settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EOTRUST_PASSPHRASE")
    result = runner.invoke(app, [*home, "party", "create", "dave", "--role", "submitter"], input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    assert load_party(settings, "dave", passphrase="s3cret").name == "dave"


def test_errors(home: list[str]) -> None:
    assert isinstance(
        runner.invoke(app, [*home, "party", "create", "x", "--role", "king"]).exception, InvalidInputError
    )
    runner.invoke(app, [*home, "party", "create", "erin", "--role", "submitter"])
    again = runner.invoke(app, [*home, "party", "create", "erin", "--role", "submitter"])
    assert isinstance(again.exception, PartyError) and "already exists" in again.exception.message
