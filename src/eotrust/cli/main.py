"""Root of the `eotrust` command: builds Settings and the Backends once, registers every command group,
and turns any EotrustError into one clear line and a non-zero exit."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
import typer.core

from eotrust.backends import Backends
from eotrust.cli.common import err_console
from eotrust.errors import EotrustError
from eotrust.settings import load_settings

if TYPE_CHECKING:
    from typer._click import Context as ClickContext  # typer vendors click: its options take this Context


def _flags_show_no_type() -> None:
    """typer 0.29 prints ``<bool>`` beside every on/off flag in --help (``--json <bool>``,
    ``--help <bool>``), as if the flag took a value; a flag takes none, so its type column is
    left empty. Options with values keep theirs (``--epochs <int>``)."""
    option = typer.core.TyperOption
    if getattr(option.display_type_rich, "_eotrust_flags", False):
        return
    shown = option.display_type_rich

    def display_type_rich(self: typer.core.TyperOption, ctx: ClickContext) -> str | None:
        if self.is_flag and not self.count:
            return None
        return shown(self, ctx)

    display_type_rich._eotrust_flags = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()

app = typer.Typer(
    name="eotrust",
    help="Trusted, decentralised deep learning on Earth-observation data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Each module exposes ``register(app)``; keep their top-level imports light
# (heavy libraries such as torch are imported inside the commands). Every module listed must
# import: a broken one fails the CLI (and tests/cli/test_commands_registered.py), never goes missing.
COMMAND_MODULES = (
    "party",
    "store",
    "task",
    "chain",
    "catalog",
    "flow",
    "node",
    "federated",
    "workflow",
    "cwl_runner",
    "linked",
    "eo",
    "ml",
    "label",
    "model",
    "serve",
    "apikey",
    "verify",
    "demo",
    "market",
)


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(None, "--home", help="eotrust home (default ~/.eotrust or EOTRUST_HOME)"),
    config: Path | None = typer.Option(None, "--config", help="an eotrust.toml to read"),
) -> None:
    ctx.obj = Backends(load_settings(config, home=home))


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"eotrust.cli.{name}").register(app)


_register_all()


def main() -> None:
    try:
        app()
    except EotrustError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
