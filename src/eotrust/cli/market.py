"""The market from the command line: `eotrust price` (an owner's prices and data-use policy, in a
new signed version of its catalogue record), `eotrust quote` (the platform's signed quote for a
task, or a quote checked and shown), `eotrust usage` (the platform's signed usage record) and
`eotrust fund` (the submitter escrows a quote's total, which locks the paid task),
`eotrust withdraw` (a party pulls what the escrow owes it) and `eotrust bill` (quoted, used,
paid, to whom, with the transaction hashes). The work is done by
``eotrust.market``; these are thin shells."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from eotrust.cli.common import (
    AsOption,
    JsonOption,
    acting_party,
    backends_of,
    console,
    print_json,
)

if TYPE_CHECKING:
    from eotrust.market.quote import Quote
    from eotrust.settings import Settings

price_app = typer.Typer(
    help="Set your prices (and a dataset's data-use policy): a new signed version of your catalogue record.",
    no_args_is_help=True,
)
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def register(app: typer.Typer) -> None:
    app.add_typer(price_app, name="price")
    app.command("quote")(quote)
    app.command("usage")(usage)
    app.command("bill")(bill)
    app.command("fund")(fund)
    app.command("expire")(expire)
    app.command("withdraw")(withdraw)


# -- prices -------------------------------------------------------------------------------------
def _reprice(
    ctx: typer.Context, as_party: str | None, ref: str, kind: Any, fields: dict[str, Any], as_json: bool
) -> None:
    """Sign a new version of the acting party's record ``ref`` with ``fields`` set."""
    from eotrust.catalog.entries import make_body
    from eotrust.errors import PermissionDeniedError

    party = acting_party(ctx, as_party)
    catalog = backends_of(ctx).catalog
    record = catalog.find(ref, kind)
    if record.owner.lower() != party.account.address.lower():
        raise PermissionDeniedError(
            f"{kind.value} {record.id} belongs to {record.owner}, not to {party.name}",
            hint="only a record's owner sets its prices and policy",
        )
    body = make_body(type(record.body), **{**record.body.model_dump(), **fields})
    # strictly newer than the version it replaces, so it is the owner's current terms
    previous = datetime.fromisoformat(record.created)
    created = max(datetime.now(UTC), previous + timedelta(seconds=1))
    new = catalog.register(party, body, created=created)
    if as_json:
        print_json(new)
        return
    console.print(f"[bold]{kind.value}[/] {new.id} [dim](replaces {record.id})[/]")
    for name in fields:
        console.print(f"  {name:<10} {new.body.canonical().get(name)}", highlight=False)


def _allowed(values: list[str]) -> list[dict[str, str]]:
    """``NAME@0xOWNER`` or a CID, as policy entries."""
    out = []
    for value in values:
        name, _, owner = value.rpartition("@")
        out.append({"name": name, "owner": owner} if name and ADDRESS.match(owner) else {"cid": value})
    return out


@price_app.command("dataset")
def price_dataset(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="your dataset: its record id or title"),
    per_use: str | None = typer.Option(
        None, "--per-use", help="your price per task that uses it: 123 (wei), 50gwei, 0.01ether (default: unchanged)"
    ),
    allow_app: list[str] = typer.Option(
        [],
        "--allow-app",
        help="an application allowed to use it: record id, workflow CID, or NAME@0xOWNER (repeatable)",
    ),
    allow_platform: list[str] = typer.Option(
        [], "--allow-platform", help="a platform allowed: record id or NAME@0xOWNER (repeatable; none: any platform)"
    ),
    any_application: bool = typer.Option(
        False, "--any-application", help="drop the data-use policy: any application, any platform"
    ),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Price a dataset per use and say which applications (and platforms) may use it.

    What you do not give stays as it was."""
    from eotrust.catalog.entries import Kind
    from eotrust.errors import InvalidInputError
    from eotrust.market.prices import parse_amount

    fields: dict[str, Any] = {}
    if per_use is not None:
        fields["price"] = {"per_use": parse_amount(per_use)}
    if any_application and (allow_app or allow_platform):
        raise InvalidInputError(
            "--any-application drops the policy; it does not go with --allow-app or --allow-platform"
        )
    if allow_platform and not allow_app:
        raise InvalidInputError(
            "a policy names the applications allowed", hint="give --allow-app with --allow-platform"
        )
    if allow_app:
        fields["policy"] = {"applications": _allowed(allow_app), "platforms": _allowed(allow_platform) or None}
    elif any_application:
        fields["policy"] = None
    if not fields:
        raise InvalidInputError("nothing to change", hint="give --per-use, --allow-app or --any-application")
    _reprice(ctx, as_party, ref, Kind.DATASET, fields, as_json)


@price_app.command("application")
def price_application(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="your application: its record id or name"),
    per_run: str = typer.Option(..., "--per-run", help="your price per run: 123 (wei), 50gwei, 0.01ether"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Price an application per run."""
    from eotrust.catalog.entries import Kind
    from eotrust.market.prices import parse_amount

    _reprice(ctx, as_party, ref, Kind.APPLICATION, {"price": {"per_use": parse_amount(per_run)}}, as_json)


@price_app.command("platform")
def price_platform(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="your platform: its record id or name"),
    cpu_hour: str = typer.Option("0", "--cpu-hour", help="per core held for an hour"),
    gpu_hour: str = typer.Option("0", "--gpu-hour", help="per GPU held for an hour"),
    memory_gb_hour: str = typer.Option("0", "--memory-gb-hour", help="per GB of memory held for an hour"),
    storage_gb: str = typer.Option("0", "--storage-gb", help="per GB of results stored"),
    flat: str = typer.Option("0", "--flat", help="per task"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Price a platform's compute (amounts: 123 (wei), 50gwei, 0.01ether)."""
    from eotrust.catalog.entries import Kind
    from eotrust.market.prices import parse_amount

    prices = {
        "cpu_hour": cpu_hour,
        "gpu_hour": gpu_hour,
        "memory_gb_hour": memory_gb_hour,
        "storage_gb": storage_gb,
        "flat": flat,
    }
    _reprice(ctx, as_party, ref, Kind.PLATFORM, {"prices": {k: parse_amount(v) for k, v in prices.items()}}, as_json)


# -- quotes, usage, bills ---------------------------------------------------------------------
def _names(settings: Settings) -> dict[str, str]:
    """Address (lower case) -> local party name, for showing who is paid."""
    from eotrust.errors import EotrustError
    from eotrust.party import list_cards

    try:
        return {card.address.lower(): card.name for card in list_cards(settings)}
    except EotrustError:
        return {}


def _who(names: dict[str, str], address: str) -> str:
    name = names.get(address.lower())
    return f"{name} ({address[:10]}…)" if name else address


def _print_quote(settings: Settings, quote: Quote) -> None:
    from eotrust.cli.common import Table
    from eotrust.market.prices import ether

    names = _names(settings)
    body = quote.body
    table = Table(title=f"quote {quote.cid} for task {body.task} ({body.process})")
    for column in ("item", "payee", "estimate", "rate (wei)", "cost (wei)"):
        table.add_column(column, justify="right" if "wei" in column else "left", overflow="fold")
    for line in body.items:
        table.add_row(
            line.item, _who(names, line.payee), f"{line.quantity} {line.unit}", str(line.rate), str(line.cost)
        )
    console.print(table)
    payees = Table(title="payees (at most)")
    for column in ("payee", "for", "max (wei)"):
        payees.add_column(column, justify="right" if "wei" in column else "left", overflow="fold")
    for payee in body.payees:
        payees.add_row(_who(names, payee.address), ", ".join(payee.roles), str(payee.max))
    console.print(payees)
    state = "[bold red]EXPIRED[/]" if quote.expired() else "valid"
    console.print(
        f"total [bold]{body.total}[/] wei ({ether(body.total)}), paid by {_who(names, body.submitter)}", highlight=False
    )
    console.print(
        f"signed by the platform owner {_who(names, quote.signer)}; {state} until {body.valid_until}; "
        f"settled by {body.deadline} or all back to the submitter; "
        f"on failure: {body.on_failure} ({body.fail_fee} wei to the platform)",
        highlight=False,
    )
    console.print(
        f"estimated duration {body.estimated_duration_s} s; basis: {body.basis}", highlight=False, markup=False
    )
    for note in body.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


def quote(
    ctx: typer.Context,
    target: str = typer.Argument(
        ..., help="a task's contract address (quote it), or a quote's CID (check and show it)"
    ),
    valid_for: int = typer.Option(3600, "--valid-for", help="seconds the quote holds (60 to 30 days)"),
    run_for: int = typer.Option(
        24 * 3600,
        "--run-for",
        help="seconds after the quote's expiry by which the platform settles (60 to 30 days); after that "
        "the task can be expired and the submitter refunded",
    ),
    on_failure: str = typer.Option(
        "flat-fee",
        "--on-failure",
        help="what a failed run pays the platform: flat-fee (its flat fee) or refund (nothing)",
    ),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Quote a task as its platform owner (itemised, signed, stored by CID), or check one.

    The estimate comes from the workflow's declared resources and the measured durations of
    past runs of the same workflow; the rates from the signed catalogue records."""
    from eotrust.errors import InvalidInputError

    backends = backends_of(ctx)
    settings, catalog, store = backends.settings, backends.catalog, backends.store
    signed = None
    if ADDRESS.match(target):
        from eotrust.market.service import escrow_quote_of, has_escrow_quote, quote_task

        if on_failure not in ("flat-fee", "refund"):
            raise InvalidInputError(f"--on-failure is flat-fee or refund, not {on_failure!r}")
        made = quote_task(
            settings,
            catalog,
            store,
            target,
            acting_party(ctx, as_party),
            valid_s=valid_for,
            run_s=run_for,
            on_failure=on_failure,  # type: ignore[arg-type]
            chain=backends.chain,
        )
        signed = escrow_quote_of(settings, made) if has_escrow_quote(settings, made) else None
    else:
        from eotrust.market.quote import load_quote

        made = load_quote(store, target, catalog, chain=backends.chain.key)  # this chain's task record
    if as_json:
        print_json(
            {
                "cid": made.cid,
                "signer": made.signer,
                "expired": made.expired(),
                **made.body.model_dump(mode="json"),
                "escrow": made.escrow_terms(),
                "escrow_signed": signed.to_json() if signed else None,
            }
        )
    else:
        _print_quote(settings, made)


def usage(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="the task's contract address"),
    quote_cid: str | None = typer.Option(
        None,
        "--quote",
        help="the quote to measure against: a task never funded (default: the funded one, else the latest)",
    ),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Record what a task used, as its platform owner: measured from its run record, priced at the
    quote's rates, never above the quote; signed and stored by CID (then settled on the escrow,
    where one is connected)."""
    from eotrust.market.payments import payments_of
    from eotrust.market.quote import load_quote
    from eotrust.market.service import usage_task

    backends = backends_of(ctx)
    settings = backends.settings
    party = acting_party(ctx, as_party)
    payments = payments_of(backends.chain)
    recorded = usage_task(
        settings,
        backends.catalog,
        backends.store,
        task,
        party,
        quote_cid=quote_cid,
        payments=payments,
        chain=backends.chain,
    )
    funded = recorded.body.outcome == "finished" and payments.funded(recorded.body.task)
    tx = payments.settle(recorded.body.task, recorded.cid, recorded.amounts, party) if funded else None
    if as_json:
        print_json(
            {"cid": recorded.cid, "signer": recorded.signer, "settled_tx": tx, **recorded.body.model_dump(mode="json")}
        )
        return
    from eotrust.cli.common import Table

    names = _names(settings)
    table = Table(title=f"usage {recorded.cid} of task {recorded.body.task} ({recorded.body.outcome})")
    for column in ("item", "payee", "measured", "quoted (wei)", "charged (wei)"):
        table.add_column(column, justify="right" if "wei" in column else "left", overflow="fold")
    units = {i.item: i.unit for i in load_quote(backends.store, recorded.body.quote_cid).body.items}
    for line in recorded.body.lines:
        table.add_row(
            line.item,
            _who(names, line.payee),
            f"{line.quantity} {units.get(line.item, '')}",
            str(line.quoted),
            str(line.charged),
        )
    console.print(table)
    console.print(
        f"charged {recorded.body.charged} wei; back to the submitter {recorded.body.refund} wei", highlight=False
    )
    console.print(
        f"settled: transaction {tx}"
        if tx
        else "[yellow]the escrow holds nothing for this task: recorded, not settled[/]",
        highlight=False,
    )


def bill(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="the task's contract address"),
    as_json: bool = JsonOption,
) -> None:
    """A task's bill: quoted, used, paid, to whom, with the transaction hashes."""
    from eotrust.market.bill import make_bill
    from eotrust.market.payments import payments_of

    backends = backends_of(ctx)
    settings = backends.settings
    made = make_bill(
        settings, backends.catalog, backends.store, task, payments_of(backends.chain), chain=backends.chain
    )
    if as_json:
        print_json(made)
        return
    from eotrust.cli.common import Table
    from eotrust.market.prices import ether

    names = _names(settings)
    table = Table(title=f"bill for task {made.task} ({made.process}): {made.status}")
    for column in ("to", "for", "quoted (wei)", "used (wei)", "paid (wei)", "withdrawn (wei)", "transactions"):
        table.add_column(column, justify="right" if "wei" in column else "left", overflow="fold")
    for line in made.lines:
        table.add_row(
            names.get(line.address.lower(), line.address),
            "\n".join(line.roles),
            str(line.quoted),
            "–" if line.used is None else str(line.used),
            str(line.paid),
            str(line.withdrawn),
            "\n".join(line.transactions) or "–",
        )
    console.print(table)
    console.print(
        f"quote {made.quote_cid}: {made.total} wei ({ether(made.total)}), "
        f"{'expired' if made.expired else 'valid until'} {made.valid_until}",
        highlight=False,
    )
    console.print(
        f"usage {made.usage_cid or '– (not recorded yet)'}"
        + (
            f": {made.outcome}, charged {made.charged} wei, back to the submitter {made.refund} wei"
            if made.usage_cid
            else ""
        ),
        highlight=False,
    )
    console.print(
        f"funded {made.funded} wei {' '.join(made.funding_transactions)}; refunded {made.refunded} wei "
        f"{' '.join(made.refund_transactions)}",
        highlight=False,
    )
    if not made.payments_connected:
        console.print("[yellow]this task is no contract on this chain: nothing is shown as paid[/]")
    elif not made.funded:
        console.print(f"[yellow]not funded: nothing paid yet[/] (the submitter funds it: eotrust fund {made.task})")


def fund(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="the paid task's contract address"),
    quote_cid: str | None = typer.Option(None, "--quote", help="the quote to fund (default: the latest made here)"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Fund a paid task as its submitter: the escrow takes the quote's total and locks the task in
    the same transaction. Refused: an expired or altered quote, a task not created --paid."""
    from eotrust.market.prices import ether
    from eotrust.market.service import fund_task

    backends = backends_of(ctx)
    party = acting_party(ctx, as_party)
    quote, tx = fund_task(
        backends.settings, backends.catalog, backends.store, backends.chain, task, party, quote_cid=quote_cid
    )
    if as_json:
        print_json({"task": quote.body.task, "quote": quote.cid, "total": str(quote.body.total), "tx": tx})
        return
    console.print(
        f"funded task {quote.body.task} with {quote.body.total} wei ({ether(quote.body.total)}) "
        f"for quote {quote.cid}; it is locked (transaction {tx})",
        highlight=False,
        soft_wrap=True,
    )


def expire(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="the paid task's contract address"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """After its quote's deadline, end a paid task still waiting for answers or running: it is
    Expired and its submitter is owed the whole total back (withdraw it). Anyone may."""
    from eotrust.ledger.codec import checksum_address
    from eotrust.ledger.escrow import EscrowClient

    backends = backends_of(ctx)
    party = acting_party(ctx, as_party)
    address = checksum_address(task, what="task address")
    escrow = EscrowClient(backends.chain)  # this chain's, not one a look-alike contract names
    tx = escrow.expire(address, sender=party.account)
    refund = next((e.args["refund"] for e in escrow.events(address) if e.name == "Expired"), 0)
    if as_json:
        print_json({"task": address, "state": "Expired", "refund": str(refund), "tx": tx.tx_hash})
        return
    console.print(
        f"task {address} expired: {refund} wei back to its submitter, to withdraw (transaction {tx.tx_hash})",
        highlight=False,
        soft_wrap=True,
    )


def withdraw(
    ctx: typer.Context,
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Pull everything the escrow owes you (your shares of settled tasks, your refunds)."""
    from eotrust.ledger.escrow import EscrowClient

    backends = backends_of(ctx)
    party = acting_party(ctx, as_party)
    escrow = EscrowClient(backends.chain)
    amount = escrow.withdraw(party.account)
    tx = escrow.last_transaction.tx_hash if escrow.last_transaction else None
    if as_json:
        print_json({"party": party.account.address, "amount": str(amount), "tx": tx})
        return
    console.print(
        f"withdrew {amount} wei to {party.account.address} (transaction {tx})", highlight=False, soft_wrap=True
    )
