"""`eotrust node run --platform NAME`: the platform's runner and collector, following the ledger."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from eotrust.cli.common import AsOption, NoSandboxOption, acting_party, backends_of, console, maybe_unsandboxed

if TYPE_CHECKING:
    from eotrust.backends import Backends
    from eotrust.party import Party

node_app = typer.Typer(help="Platform nodes: the runner and the collector.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(node_app, name="node")


@node_app.command("run")
def run(
    ctx: typer.Context,
    platform: str | None = typer.Option(None, "--platform", help="the platform's catalogue name or record id"),
    federated: str | None = typer.Option(
        None, "--federated", help="run a federated role instead: participant (a data owner) or aggregator"
    ),
    data: Path | None = typer.Option(
        None, "--data", help="participant: the owner's own training pixels (.npz); never uploaded"
    ),
    poll: float = typer.Option(1.0, "--poll", min=0.05, help="seconds between looks at the ledger"),
    max_backoff: float = typer.Option(
        30.0, "--max-backoff", min=0.1, help="longest wait between retries when the chain is away"
    ),
    once: bool = typer.Option(False, "--once", help="advance the platform's unfinished tasks once, then exit"),
    accept_from: list[str] = typer.Option(
        [],
        "--accept-from",
        help="federated: take part in every task this submitter opens (repeat); else only in tasks accepted "
        "with `federated accept`",
    ),
    as_party: str | None = AsOption,
    no_sandbox: bool = NoSandboxOption,
) -> None:
    """Start acknowledged tasks, run them, record their results and finish them (until Ctrl-C).

    On start the node scans the ledger for this platform's unfinished tasks, so a node killed
    in the middle of a task and started again finishes it exactly once; SIGTERM stops it as
    Ctrl-C does."""
    with _sigterm_interrupts():
        _run(ctx, platform, federated, data, poll, max_backoff, once, accept_from, as_party, no_sandbox)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (how a service manager or `kill` stops a daemon) stops the node as Ctrl-C does.
    Its default, death on the spot, skipped the cleanup of the task under way: the data owners'
    decrypted inputs stayed in the platform's private store and the task's work files on its
    disk. Now they are deleted, and the ledger tells a node started again where to resume."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(
    ctx: typer.Context,
    platform: str | None,
    federated: str | None,
    data: Path | None,
    poll: float,
    max_backoff: float,
    once: bool,
    accept_from: list[str],
    as_party: str | None,
    no_sandbox: bool,
) -> None:
    from datetime import datetime

    backends = backends_of(ctx)
    backends.settings = maybe_unsandboxed(backends.settings, no_sandbox)  # this command's settings

    def log(line: str) -> None:
        console.print(f"[dim]{datetime.now():%H:%M:%S}[/] {escape(line)}", highlight=False)

    if federated is not None:
        _run_federated(
            backends,
            acting_party(ctx, as_party),
            federated,
            data,
            log,
            poll=poll,
            max_backoff=max_backoff,
            once=once,
            accept_from=accept_from,
        )
        return
    if accept_from:
        from eotrust.errors import InvalidInputError

        raise InvalidInputError("--accept-from is for a federated node", hint="pass --federated ROLE too")
    if platform is None:
        from eotrust.errors import InvalidInputError

        raise InvalidInputError("which platform does this node run?", hint="pass --platform NAME (or --federated ROLE)")
    from eotrust.nodes.node import PlatformNode  # the workflow runner's imports: not for a federated node

    node = PlatformNode(backends, acting_party(ctx, as_party), platform, log=log)
    if once:
        for address, state in node.recover().items():
            log(f"task {address}: {state}")
        return
    try:
        node.run(poll_s=poll, max_backoff_s=max_backoff)
    except KeyboardInterrupt:
        log("node stopped")


def _run_federated(
    backends: Backends,
    party: Party,
    role: str,
    data: Path | None,
    log: Callable[[str], None],
    *,
    poll: float,
    max_backoff: float,
    once: bool,
    accept_from: list[str],
) -> None:
    from eotrust.errors import InvalidInputError
    from eotrust.federated.data import PixelSet
    from eotrust.nodes.federated import FederatedNode

    if role == "participant":
        node = FederatedNode(
            backends,
            party,
            "participant",
            data=PixelSet.load(data) if data is not None else None,
            log=log,
            accept_from=accept_from,
        )
    elif role == "aggregator":
        node = FederatedNode(backends, party, "aggregator", log=log, accept_from=accept_from)
    else:
        raise InvalidInputError(f"unknown federated role {role!r}", hint="use participant or aggregator")
    if once:
        node.step_all()
        return
    try:
        node.run(poll_s=poll, max_backoff_s=max_backoff)
    except KeyboardInterrupt:
        log("node stopped")
