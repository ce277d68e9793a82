"""`eotrust demo` (what `make demo` runs): the seven steps of the task flow, end to end."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None,
        "--demo-home",
        help="home for the demo (default: EOTRUST_HOME or --home if given, else a new .demo/run-… here)",
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="training epochs of the land-cover model"),
    federated: bool = typer.Option(False, "--federated", help="the federated variant: three data owners train at home"),
    rounds: int = typer.Option(3, "--rounds", min=1, max=50, help="federated rounds (with --federated)"),
) -> None:
    """Run the whole task flow between five parties on real Sentinel-2 data, end to end.

    Two data owners, a land-cover application, a platform: the task is requested, answered, run, recorded, decrypted and verified, and the trained model ships as a signed package.

    Uses EOTRUST_CHAIN_URL when it is set (any Ethereum JSON-RPC node, e.g. anvil), the home
    EOTRUST_HOME (or --home) names, and EOTRUST_PASSPHRASE for the parties' keystores; without
    one it chooses a passphrase and prints it."""
    from eotrust.cli.common import settings_of

    settings = settings_of(ctx)
    if home is None and "home" in settings.model_fields_set:  # EOTRUST_HOME, eotrust.toml or --home
        home = settings.home_dir
    if federated:
        from eotrust.demo.federated import run_federated_demo

        fed = run_federated_demo(home=home, rounds=rounds)
        if fed.state != "Finished" or not fed.verified:
            raise typer.Exit(1)
        return
    from eotrust.cli.common import console
    from eotrust.cli.task import status_text
    from eotrust.demo.scenario import run_demo

    passphrase = settings.passphrase.get_secret_value() if settings.passphrase is not None else None
    params = {"epochs": epochs} if epochs is not None else None
    result = run_demo(console=console, status_text=status_text, home=home, params=params, passphrase=passphrase)
    if result.state != "Finished" or not result.verified:
        raise typer.Exit(1)
