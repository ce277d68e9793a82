"""`--help` shows a type only for options that take a value: no `<bool>` beside a flag."""

from __future__ import annotations

from typer.testing import CliRunner

from eotrust.cli.main import app

runner = CliRunner()


def test_flags_show_no_type_and_values_keep_theirs() -> None:
    out = runner.invoke(app, ["train", "--help"], terminal_width=160).stdout
    assert "<bool>" not in out
    json_line = next(line for line in out.splitlines() if "--json" in line)
    assert "print machine-readable JSON" in json_line
    assert "<int>" in next(line for line in out.splitlines() if "--epochs" in line)


def test_no_command_help_shows_bool() -> None:
    for command in (["store", "put"], ["node", "run"], ["flow", "answer"], ["eo", "dataset"], []):
        out = runner.invoke(app, [*command, "--help"], terminal_width=160).stdout
        assert "<bool>" not in out, command
