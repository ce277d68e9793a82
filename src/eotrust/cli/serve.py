"""`eotrust serve`: run the HTTP server (OGC API - Processes, STAC API, party REST API, web page)."""

from __future__ import annotations

import socket
from enum import Enum

import typer

from eotrust.cli.common import console, settings_of
from eotrust.errors import BackendUnavailableError, InvalidInputError


class LogLevel(str, Enum):
    """uvicorn's log levels."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="port to listen on"),
    dev_autoack: bool = typer.Option(
        False,
        "--dev-autoack",
        help="development only: parties whose keystores are in this home answer task requests automatically",
    ),
    run_nodes: bool = typer.Option(
        False, "--run-nodes", help="run the platform runner and collector inside the server process"
    ),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", help="uvicorn log level"),
) -> None:
    """Serve the API and the web page (open http://HOST:PORT/web/ in a browser)."""
    from eotrust.party import list_cards, load_party

    settings = settings_of(ctx)
    # The server acts for the parties whose keystores are in its home: unlock each first, before
    # the server and its routers are even imported, so a wrong passphrase (or a damaged
    # keystore) stops it at once with one line, not later in a loop.
    parties = [load_party(settings, card.name) for card in list_cards(settings)]

    # listen before anything else starts: a taken port or an unknown host is one line, and
    # --port 0 prints the port the kernel chose
    listener = listen(host, port)
    port = listener.getsockname()[1]

    import uvicorn

    from eotrust.api.app import create_app
    from eotrust.api.http_guard import ConnectionLimits, guarded_protocol

    app = create_app(settings, dev_autoack=dev_autoack, run_nodes=run_nodes)
    for party in parties:
        app.state.eotrust.keep_party(party)
    limits, note = ConnectionLimits.of(settings).within_open_files()
    if note:
        console.print(f"[yellow]note:[/] {note}")
    shown = f"[{host}]" if ":" in host else host
    console.print(f"eotrust serving on [bold]http://{shown}:{port}/[/] — web page at http://{shown}:{port}/web/")
    # no WebSocket routes: an upgrade request is answered as plain HTTP (an upgraded connection
    # would leave the connection limits' books)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level.value, http=guarded_protocol(limits), ws="none"
    )
    server = uvicorn.Server(config)
    server.run(sockets=[listener])
    if not server.started:  # the application's startup failed (uvicorn.run's own exit status)
        raise typer.Exit(3)


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (the server listens on it); one that cannot be
    bound is a BackendUnavailableError naming the address and why."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise BackendUnavailableError(
            f"cannot listen on {host}: {exc.strerror}", hint="give an address of this machine (--host 127.0.0.1)"
        ) from None
    except UnicodeError:  # IDNA refuses it: an empty label (a..b), one past 63 characters, not UTF-8
        raise InvalidInputError(
            f"cannot listen on {host}: not a host name", hint="give an address of this machine (--host 127.0.0.1)"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise BackendUnavailableError(
            f"cannot listen on {host}:{port}: {reason}", hint="choose another --port (0: any free one)"
        ) from None
    return sock
