"""What every CLI module shares: the Backends (and their Settings) from the root context, JSON
output, the console."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from eotrust.backends import Backends
    from eotrust.party import Party
    from eotrust.settings import Settings

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="print machine-readable JSON")
AsOption = typer.Option(None, "--as", help="the party acting (default: the `party` setting, EOTRUST_PARTY)")


def backends_of(ctx: typer.Context) -> Backends:
    """The Backends built once by the root callback (each opened on first use)."""
    from eotrust.backends import Backends

    backends = ctx.find_root().obj
    assert isinstance(backends, Backends), "root callback did not build the Backends"
    return backends


def settings_of(ctx: typer.Context) -> Settings:
    """The Settings the root callback read."""
    return backends_of(ctx).settings


def acting_party(ctx: typer.Context, name: str | None) -> Party:
    """The eotrust Party a command acts as: ``--as NAME``, else the ``party`` setting."""
    from eotrust.errors import InvalidInputError

    backends = backends_of(ctx)
    name = name or backends.settings.party
    if not name:
        raise InvalidInputError("which party acts here?", hint="pass --as NAME or set EOTRUST_PARTY")
    return backends.load_party(name)


def to_jsonable(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(to_jsonable(value), indent=2, default=str))


NoSandboxOption = typer.Option(
    False, "--no-sandbox", help="DEVELOPMENT ONLY: run steps without the sandbox (they see keys, network, everything)"
)


def maybe_unsandboxed(settings: Settings, no_sandbox: bool) -> Settings:
    """``settings`` with the sandbox off when ``--no-sandbox`` is given, after a loud warning."""
    if not no_sandbox:
        return settings
    err_console.print(
        "[bold red]WARNING: --no-sandbox: workflow steps run as ordinary processes of this node. "
        "Other parties' code can read its keys, its store and the network. Development only; "
        "run records and `eotrust verify` will show these steps as UNSANDBOXED.[/]"
    )
    return settings.model_copy(update={"sandbox": False})
