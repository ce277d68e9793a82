"""`eotrust party`: create, list, show, export and verify parties — thin shells over
:mod:`eotrust.party`."""

from __future__ import annotations

from pathlib import Path

import typer

from eotrust.cli.common import JsonOption, console, err_console, print_json, settings_of

party_app = typer.Typer(
    help="Parties: an Ethereum account plus an age identity, bound by a signed card.", no_args_is_help=True
)

ROLES = "submitter | data-owner | algorithm-owner | platform-owner"


def register(app: typer.Typer) -> None:
    app.add_typer(party_app, name="party")


def _card_table(cards: list) -> None:  # type: ignore[type-arg]
    from eotrust.cli.common import Table

    table = Table("name", "role", "address", "age recipient", box=None)
    for c in cards:
        table.add_row(c.name, c.role.value, c.address, c.age_recipient)
    console.print(table)


@party_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the party's name (letters, digits, . _ -)"),
    role: str = typer.Option(..., "--role", help=ROLES),
    as_json: bool = JsonOption,
) -> None:
    """Create a party: an Ethereum account and an age identity, encrypted with a passphrase
    (EOTRUST_PASSPHRASE, else asked), and its signed public card."""
    import os

    from eotrust.party import Role, create_party

    settings = settings_of(ctx)
    Role.parse(role)  # a bad role fails before the passphrase is asked
    passphrase = None
    if settings.passphrase is None and not os.environ.get("EOTRUST_PASSPHRASE"):
        passphrase = typer.prompt(f"Passphrase for {name}", hide_input=True, confirmation_prompt=True, err=True)
    party = create_party(settings, name, role, passphrase)
    if as_json:
        print_json(party.card)
        return
    console.print(f"created party [bold]{party.name}[/] ({party.role.value})", highlight=False)
    console.print(f"  address        {party.address}", highlight=False)
    console.print(f"  age recipient  {party.age_recipient}", highlight=False)


@party_app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List the parties whose keystores are in this eotrust home."""
    from eotrust.party import list_cards

    cards = list_cards(settings_of(ctx))
    if as_json:
        print_json(cards)
    else:
        _card_table(cards)


@party_app.command("show")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the party's name"),
    as_json: bool = JsonOption,
) -> None:
    """Show a party's public card."""
    from eotrust.party import export_card

    card = export_card(settings_of(ctx), name)
    if as_json:
        print_json(card)
    else:
        _card_table([card])


@party_app.command("export")
def export(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the party's name"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write the card here (default: stdout)"),
) -> None:
    """Write a party's signed public card, to hand to other parties."""
    from eotrust.party import export_card, save_card

    card = export_card(settings_of(ctx), name)
    if output is None:
        typer.echo(card.to_json(), nl=False)
    else:
        save_card(card, output)
        err_console.print(f"wrote {output}", highlight=False)


@party_app.command("export-identity")
def export_identity(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the party's name"),
    output: Path = typer.Option(..., "-o", "--output", help="the identity file to write (must not exist)"),
) -> None:
    """Write a party's age secret key, UNENCRYPTED, to a file the `age` CLI reads
    (`age -d -i FILE`). Anyone who reads that file can decrypt everything sealed for the
    party: keep it private and delete it when done."""
    from eotrust.party import export_age_identity

    path = export_age_identity(settings_of(ctx), name, output)
    err_console.print(
        f"[bold red]warning:[/] {path} holds the age secret key of {name} in clear (mode 0600): anyone who reads it "
        f"can decrypt every input and result sealed for {name}. Keep it private; delete it when done.",
        highlight=False,
    )
    typer.echo(f"wrote {path}")


@party_app.command("verify")
def verify(card_file: Path = typer.Argument(..., help="a card file (from `party export`)")) -> None:
    """Check that a card's signature binds its name, role, address and age recipient."""
    from eotrust.party import load_card

    card = load_card(card_file).verify()
    typer.echo(f"valid: {card.name} ({card.role.value}) {card.address} {card.age_recipient}")
