"""Every command group is registered (like rasterio's ``test_all_registered``): each module of
``eotrust.cli`` with a ``register(app)`` is listed in ``COMMAND_MODULES``, imports, and every
command it registers answers ``--help`` from the root ``eotrust`` app. A module that fails to
import fails here, never becomes a silently missing command."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from eotrust.cli import main

CLI_DIR = Path(main.__file__).resolve().parent


def _names(app: typer.Typer) -> set[str]:
    """The names a Typer app answers to at its top level (commands and groups)."""
    command = get_command(app)
    assert isinstance(command, TyperGroup)  # an app with a callback: a group
    return set(command.commands)


def test_every_module_with_register_is_listed() -> None:
    with_register = {p.stem for p in CLI_DIR.glob("*.py") if "\ndef register(" in p.read_text(encoding="utf-8")}
    assert with_register == set(main.COMMAND_MODULES)


@pytest.mark.parametrize("name", main.COMMAND_MODULES)
def test_command_group_is_registered(name: str) -> None:
    alone = typer.Typer()
    importlib.import_module(f"eotrust.cli.{name}").register(alone)
    alone.callback()(lambda: None)  # so that a module with one command is still a group
    registered = _names(alone)
    assert registered, f"eotrust.cli.{name} registers nothing"
    assert registered <= _names(main.app), f"eotrust.cli.{name}: {registered - _names(main.app)} not in eotrust"
    runner = CliRunner()
    for command in registered:
        res = runner.invoke(main.app, [command, "--help"])
        assert res.exit_code == 0, (command, res.output)
