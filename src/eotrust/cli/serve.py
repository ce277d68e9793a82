"""`eotrust serve`: run the HTTP server (OGC API - Processes, STAC API, party REST API, web page)."""

from __future__ import annotations

import typer

from eotrust.cli.common import console, settings_of


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
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level"),
) -> None:
    """Serve the API and the web page (open http://HOST:PORT/web/ in a browser)."""
    from eotrust.party import list_cards, load_party

    settings = settings_of(ctx)
    # The server acts for the parties whose keystores are in its home: unlock each first, before
    # the server and its routers are even imported, so a wrong passphrase (or a damaged
    # keystore) stops it at once with one line, not later in a loop.
    parties = [load_party(settings, card.name) for card in list_cards(settings)]

    import uvicorn

    from eotrust.api.app import create_app
    from eotrust.api.http_guard import ConnectionLimits, guarded_protocol

    app = create_app(settings, dev_autoack=dev_autoack, run_nodes=run_nodes)
    for party in parties:
        app.state.eotrust.keep_party(party)
    limits, note = ConnectionLimits.of(settings).within_open_files()
    if note:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"eotrust serving on [bold]http://{host}:{port}/[/] — web page at http://{host}:{port}/web/")
    # no WebSocket routes: an upgrade request is answered as plain HTTP (an upgraded connection
    # would leave the connection limits' books)
    uvicorn.run(app, host=host, port=port, log_level=log_level, http=guarded_protocol(limits), ws="none")
