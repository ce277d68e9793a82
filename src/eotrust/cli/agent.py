"""`eotrust agent status|stop`: the resident agent that runs short commands from a warm
process (docs/architecture.md, "The resident agent")."""

from __future__ import annotations

from typing import Any

import typer

from eotrust.cli import agent_wire as wire
from eotrust.cli.common import JsonOption, console, print_json

agent_app = typer.Typer(
    help="The resident agent: a warm process that runs short commands (EOTRUST_AGENT=0 turns it off).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(agent_app, name="agent")


def _ask(op: str) -> dict[str, Any]:
    """The agent's answer to ``op``, or what keeps it from answering (``running`` false)."""
    directory = wire.agent_dir()
    key = wire.agent_key()
    where: dict[str, Any] = {"directory": str(directory), "key": key}
    try:
        wire.private_dir(directory, create=False)
    except wire.AgentDirRefused as exc:
        return {"running": False, "reason": str(exc), **where}
    try:
        answer = wire.control(directory, key, op)
    except (OSError, ValueError) as exc:
        return {"running": False, "reason": f"no agent answers ({type(exc).__name__})", **where}
    return {"running": True, **where, **answer}


@agent_app.command("status")
def status(as_json: bool = JsonOption) -> None:
    """Whether this code base's agent runs, its PID, and what it keeps warm."""
    state = _ask("status")
    if as_json:
        print_json(state)
        return
    if not state["running"]:
        console.print(f"no agent: {state['reason']} (directory {state['directory']})", highlight=False)
        return
    chains = ", ".join(state["warm_chains"]) or "none"
    console.print(
        f"agent {state['pid']} since {state['started']}: {state['commands']} commands, "
        f"{state['commands_running']} running, idle exit after {state['idle_exit_s']:.0f} s\n"
        f"warm chains: {chains}\ndirectory: {state['directory']}",
        highlight=False,
    )


@agent_app.command("stop")
def stop(as_json: bool = JsonOption) -> None:
    """Stop this code base's agent (it lets running commands finish); the next command starts one."""
    state = _ask("stop")
    if as_json:
        print_json(state)
        return
    if state["running"]:
        console.print(f"agent {state['stopping']} stops", highlight=False)
    else:
        console.print(f"no agent: {state['reason']}", highlight=False)
