"""`eotrust apikey`: API keys for the HTTP API (stored hashed; the secret is printed once)."""

from __future__ import annotations

import typer

from eotrust.cli.common import JsonOption, backends_of, console, print_json, utf8_text

apikey_app = typer.Typer(help="API keys for the HTTP API (model prediction, party REST API).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
def create(
    ctx: typer.Context,
    party: str | None = typer.Option(None, "--party", help="the party this key acts as (party REST API)"),
    scope: list[str] = typer.Option(
        [], "--scope", "-s", help="a model CID or name it may score, or '*' (repeatable; default '*')"
    ),
    label: str = typer.Option("", "--label", help="a note to recognise the key by"),
    as_json: bool = JsonOption,
) -> None:
    """Create a key. The secret is printed once and only its SHA-256 is kept. A key for a party
    needs that party's passphrase: the party signs the key's grant."""
    backends = backends_of(ctx)
    unlocked = backends.load_party(party) if party else None  # refuses an unknown party or a wrong passphrase
    secret, info = backends.api_keys.create(party=unlocked, scopes=scope or ["*"], label=label)
    if as_json:
        print_json({"secret": secret, **info.__dict__})
        return
    console.print(
        f"API key [bold]{info.id}[/] (party {info.party or '–'}, scopes {', '.join(info.scopes)})", highlight=False
    )
    console.print("secret (shown only now):", highlight=False)
    typer.echo(secret)


@apikey_app.command("revoke")
def revoke(ctx: typer.Context, key_id: str = typer.Argument(..., help="the key's id (k…)")) -> None:
    """Revoke a key: every later request with it is refused (401)."""
    info = backends_of(ctx).api_keys.revoke(utf8_text(key_id, "API key id"))
    console.print(f"[green]revoked[/] {info.id} at {info.revoked}", highlight=False)


@apikey_app.command("list")
def list_keys(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Every key: id, party, scopes, created, revoked (never a secret)."""
    from eotrust.cli.common import Table

    keys = backends_of(ctx).api_keys.list()
    if as_json:
        print_json([k.__dict__ for k in keys])
        return
    table = Table("id", "party", "scopes", "label", "created", "revoked")
    for k in keys:
        table.add_row(k.id, k.party or "–", ", ".join(k.scopes), k.label, k.created, k.revoked or "–")
    console.print(table)
