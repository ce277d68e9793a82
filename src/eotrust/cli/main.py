"""The `eotrust` command's entry point. It imports only the standard library: a short command
(``eotrust.cli.client.AGENT_COMMANDS``) is handed to the resident agent, which has the CLI and
its libraries imported already and forks a child to run it (docs/architecture.md, "The
resident agent"); any other command, ``EOTRUST_AGENT=0``, or any trouble reaching the agent
runs it here, in this process, the way it always ran (``eotrust.cli.app``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

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
    "agent",
)


def build() -> typer.Typer:
    """The root typer app with every command group (imports the whole CLI)."""
    from eotrust.cli.app import build_app

    return build_app(COMMAND_MODULES)


def __getattr__(name: str) -> typer.Typer:
    """``eotrust.cli.main.app``: the root typer app, built on first use (tests and
    ``typer.testing.CliRunner`` use it; the entry point does not need it to hand a command on)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    app = globals().get("_app")
    if app is None:
        app = globals()["_app"] = build()
    return app


def main() -> None:
    """Run the command in ``sys.argv``: through the resident agent when it may, else here."""
    from eotrust.cli.client import forward

    status = forward(sys.argv)
    if status is None:
        from eotrust.cli.app import run

        status = run(__getattr__("app"))
    sys.exit(status)


if __name__ == "__main__":
    main()
