"""The typer application of the `eotrust` command: builds Settings and the Backends once per
command, registers every command group, and turns any EotrustError into one clear line and a
non-zero exit. ``eotrust.cli.main`` is the entry point; it imports this module only when a
command runs in this process (not when the resident agent runs it, docs/architecture.md)."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer
import typer.core
from rich.markup import escape

from eotrust.cli.common import err_console
from eotrust.cli.interrupts import Terminated, stops_never_lost
from eotrust.errors import EotrustError

if TYPE_CHECKING:
    from typer._click import Context as ClickContext  # typer vendors click: its options take this Context

    from eotrust.ledger.backend import ChainBackend
    from eotrust.settings import Settings

#: What the resident agent hands the root callback (as the root context's ``obj``): the chain
#: backend it already holds open for these settings, or None (then the chain opens as usual).
WarmChain = Callable[["Settings"], "ChainBackend | None"]


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


def root(
    ctx: typer.Context,
    # a string, so that `--home ""` is refused as empty rather than read as the working folder
    home: str | None = typer.Option(None, "--home", help="eotrust home (default ~/.eotrust or EOTRUST_HOME)"),
    config: Path | None = typer.Option(None, "--config", help="an eotrust.toml to read"),
) -> None:
    from eotrust.backends import Backends
    from eotrust.settings import load_settings

    warm: Any = ctx.obj  # set only by the resident agent (eotrust.cli.resident)
    settings = load_settings(config, home=home)
    ctx.obj = Backends(settings, chain_backend=warm(settings) if callable(warm) else None)


def build_app(command_modules: Sequence[str]) -> typer.Typer:
    """The root ``eotrust`` app with every module's commands (each module exposes
    ``register(app)``; a module that fails to import fails the CLI, never goes missing)."""
    _flags_show_no_type()
    app = typer.Typer(
        name="eotrust",
        help="Trusted, decentralised deep learning on Earth-observation data.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(root)
    for name in command_modules:
        importlib.import_module(f"eotrust.cli.{name}").register(app)
    return app


def run(
    app: Callable[..., Any],
    args: list[str] | None = None,
    *,
    prog_name: str | None = None,
    warm: WarmChain | None = None,
) -> int:
    """Run one command of ``app`` (the typer app, or the click command typer makes of it once,
    as the resident agent keeps it); its exit status (an EotrustError, or the file system
    refusing a path, is one red line and its hint). SIGTERM during the command unwinds it as
    Ctrl-C does (what it was writing is removed), then the process dies of the signal. Once it
    returns, Ctrl-C ends the process as the signal's death: one arriving while the interpreter
    runs its exit handlers would otherwise print a KeyboardInterrupt traceback from them."""
    # SIGTERM unwinds the command as Ctrl-C does (what it was writing is removed), unless the
    # process was started with it ignored or a command installs its own (servers, nodes)
    on_term = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    )
    if on_term:
        signal.signal(signal.SIGTERM, _terminated)
    try:
        with stops_never_lost():  # a stop that lands in a finaliser is raised again, not lost
            return _run(app, args, prog_name=prog_name, warm=warm)
    except Terminated:
        # cleaned up: now die of it, as the default action would have (a service manager
        # counts that as a stop, not a failure; a shell sees 143)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
        return 128 + signal.SIGTERM  # not reached
    finally:
        if on_term and signal.getsignal(signal.SIGTERM) is _terminated:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # (a process started with SIGINT ignored, as a shell's background job is, keeps ignoring it)
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(
    app: Callable[..., Any],
    args: list[str] | None,
    *,
    prog_name: str | None,
    warm: WarmChain | None,
) -> int:
    try:
        app(args=args, prog_name=prog_name, obj=warm)
    except EotrustError as exc:
        # a message is plain text, and may name what another party wrote: never markup
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            err_console.print(f"[dim]hint:[/] {escape(exc.hint)}", highlight=False)
        return exc.exit_code
    except OSError as exc:
        if exc.filename is None:  # not about a path (a socket, a child process): a real fault
            raise
        err_console.print(f"[bold red]error:[/] {escape(path_error(exc))}", highlight=False)
        err_console.print(f"[dim]hint:[/] {escape(path_hint(exc))}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        return 130
    except Terminated:
        err_console.print("[bold red]terminated[/]")
        raise
    except SystemExit as exc:
        return exit_status(exc.code)
    return 0


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _default_sigterm_in_child() -> None:
    """A child forked while a command runs (a DDP rank, a pool worker) keeps SIGTERM's default
    action: its parent stops it with SIGTERM and expects it gone at once, even inside a C call."""
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGTERM) is _terminated:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


os.register_at_fork(after_in_child=_default_sigterm_in_child)


def path_error(exc: OSError) -> str:
    """One line for a file-system refusal of a path the command was given or derived: the
    path (a rename's destination, not its temporary source) and what the system said."""
    where = exc.filename2 if exc.filename2 is not None else exc.filename
    if isinstance(exc, FileExistsError) and exc.filename2 is None:  # a folder to make is a file
        return f"cannot make the folder {where}: a file of that name is in the way"
    return f"cannot use {where}: {(exc.strerror or type(exc).__name__).lower()}"


def path_hint(exc: OSError) -> str:
    """What to do about a file-system refusal of a path."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some space there, or write the output elsewhere"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "write the output where you may write"
    return (
        "check the path: every folder on it must be a folder (not a file) that can be made or "
        "written, and an output must not be an existing folder"
    )


def exit_status(code: object) -> int:
    """The process exit status ``sys.exit(code)`` gives (a message goes to stderr, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
