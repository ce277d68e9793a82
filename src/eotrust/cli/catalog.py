"""`eotrust catalog`: register datasets, applications and platforms (signed by their owner),
search them by area, time and text, show one record checked."""

from __future__ import annotations

from pathlib import Path

import typer

from eotrust.cli.common import AsOption, JsonOption, acting_party, backends_of, console, print_json, utf8_text

catalog_app = typer.Typer(help="The catalogue of datasets, applications and platforms.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")


def _print_record(record, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print_json(record)
        return
    console.print(f"[bold]{record.kind.value}[/] {record.id}")
    console.print(f"  owner    {record.owner}   created {record.created}   signature [green]checked[/]")
    for key, value in record.body.canonical().items():
        if key == "bands" and isinstance(value, list) and len(value) > 6:
            value = f"{len(value)} bands: {', '.join(value[:3])} … {value[-1]}"
        console.print(f"  {key:<17} {value}", highlight=False, markup=False)  # the owner's words, not markup


@catalog_app.command("register-dataset")
def register_dataset(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="the raster to describe (it stays with you)"),
    title: str | None = typer.Option(None, "--title", help="title (default: the file name)"),
    description: str = typer.Option("", "--description"),
    licence: str = typer.Option("proprietary", "--licence"),
    keyword: list[str] = typer.Option([], "--keyword", "-k", help="a search keyword (repeatable)"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Describe a raster (footprint, dates, CRS, bands, CID) and register it, signed by you.

    The file is not uploaded: you keep it, and encrypt it for one platform when a task asks."""
    from eotrust.roles.data_owner.holdings import register_dataset_file

    party = acting_party(ctx, as_party)
    record = register_dataset_file(
        backends_of(ctx), party, file, title=title, description=description, licence=licence, keywords=keyword
    )
    _print_record(record, as_json)


@catalog_app.command("register-application")
def register_application(
    ctx: typer.Context,
    workflow: str = typer.Argument(..., help="the workflow: a YAML file or the CID of a published one"),
    name: str | None = typer.Option(None, "--name", help="application name (default: the workflow's)"),
    version: str = typer.Option("0.1.0", "--version"),
    description: str = typer.Option("", "--description"),
    keyword: list[str] = typer.Option([], "--keyword", "-k"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Publish a workflow to the store and register it as an application, signed by you."""
    from eotrust.roles.algorithm_owner.applications import register_workflow_application

    party = acting_party(ctx, as_party)
    record = register_workflow_application(
        backends_of(ctx), party, workflow, name=name, version=version, description=description, keywords=keyword
    )
    _print_record(record, as_json)


@catalog_app.command("register-platform")
def register_platform(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="platform name (runner nodes are started with it)"),
    cpus: int = typer.Option(2, "--cpus", min=1),
    memory_mb: int = typer.Option(4096, "--memory-mb", min=1),
    gpus: int = typer.Option(0, "--gpus", min=0),
    description: str = typer.Option("", "--description"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Register a compute platform with your age key for inputs, signed by you."""
    from eotrust.catalog.entries import PlatformInfo, make_body

    party = acting_party(ctx, as_party)
    info = make_body(
        PlatformInfo,
        name=name,
        age_recipient=party.card.age_recipient,
        cpus=cpus,
        memory_mb=memory_mb,
        gpus=gpus,
        description=description,
    )
    _print_record(backends_of(ctx).catalog.register(party, info), as_json)


@catalog_app.command("search")
def search(
    ctx: typer.Context,
    bbox: str | None = typer.Option(None, "--bbox", help="west,south,east,north in WGS84 degrees"),
    start: str | None = typer.Option(None, "--start", help="from this date (ISO-8601)"),
    end: str | None = typer.Option(None, "--end", help="until this date (ISO-8601)"),
    text: str | None = typer.Option(None, "--text", "-t", help="words in names, titles, descriptions, keywords"),
    kind: str | None = typer.Option(None, "--kind", help="dataset, application or platform"),
    as_json: bool = JsonOption,
) -> None:
    """Search datasets (by area, time, text), applications and platforms (by text).

    A row of the catalogue that fails its check (signature, id, body) is left out, with one
    warning line on stderr naming it."""
    from eotrust.cli.common import Table
    from eotrust.errors import InvalidInputError

    box = None
    if bbox:
        try:
            box = tuple(float(v) for v in bbox.split(","))
        except ValueError:
            raise InvalidInputError(f"--bbox {bbox!r} is not four numbers west,south,east,north") from None
    records = backends_of(ctx).catalog.search(bbox=box, start=start, end=end, text=text, kind=kind)
    if records.skipped:  # rows that fail their check: left out, said once on stderr (JSON or not)
        from rich.text import Text

        from eotrust.catalog.listing import skipped_line
        from eotrust.cli.common import err_console

        err_console.print(Text("warning: ", style="yellow") + Text(skipped_line(records.skipped)), soft_wrap=True)
    if as_json:
        print_json(records)
        return
    table = Table(title=f"{len(records)} catalogue record(s)")
    for col in ("kind", "id", "name / title", "owner", "details"):
        table.add_column(col, overflow="fold")
    for r in records:
        body = r.body.canonical()
        label = body.get("title") or body.get("name")
        if r.kind.value == "dataset":
            details = f"{(body['start'] or '')[:10]}…{(body['end'] or '')[:10]}  {body['crs'] or ''}  {len(body['bands'])} band(s)"
        elif r.kind.value == "application":
            details = f"v{body['version']}  workflow {body['workflow_cid']}"
        else:
            details = f"{body['cpus']} CPU, {body['memory_mb']} MB, {body['gpus']} GPU"
        table.add_row(r.kind.value, r.id, label, r.owner, details)
    console.print(table)


@catalog_app.command("show")
def show(
    ctx: typer.Context,
    record_id: str = typer.Argument(..., help="a record id (or an application/platform name)"),
    as_json: bool = JsonOption,
) -> None:
    """Show one record, after checking its id and its owner's signature."""
    _print_record(backends_of(ctx).catalog.find(utf8_text(record_id, "record id")), as_json)
