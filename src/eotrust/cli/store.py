"""`eotrust store`: put, get, list, pin and verify objects, and compute CIDs — thin shells
over :mod:`eotrust.store` and :mod:`eotrust.cid`, with progress bars for large files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import typer

from eotrust.cli.common import JsonOption, backends_of, console, err_console, print_json, settings_of

store_app = typer.Typer(help="The content-addressed store: objects named by IPFS CIDs.", no_args_is_help=True)

PROGRESS_FROM = 16 * 1024 * 1024  # bars only for files at least this large


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr for large transfers; yields ``advance(nbytes)``."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    if total is None or total < PROGRESS_FROM or not err_console.is_terminal:
        yield lambda n: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


class _Counting:
    """A read-only stream that reports each read's size."""

    def __init__(self, f: BinaryIO, advance: Callable[[int], None]) -> None:
        self._f = f
        self._advance = advance

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._advance(len(data))
        return data


def _source(path: Path) -> BinaryIO:
    from eotrust.errors import InvalidInputError
    from eotrust.limits import regular_file

    if path.is_dir():
        raise InvalidInputError(f"{path} is a directory", hint="store one file at a time: `eotrust store put FILE`")
    regular_file(path, "file")
    try:
        return open(path, "rb", buffering=0)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None


@store_app.command("put")
def put(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="the file to store"),
    pin: bool = typer.Option(True, "--pin/--no-pin", help="pin the object (keep it)"),
    as_json: bool = JsonOption,
) -> None:
    """Store FILE; print its CID."""
    from eotrust.cid import to_v1

    store = backends_of(ctx).store
    with _source(file) as f, progress_bar(f"put {file.name}", file.stat().st_size) as advance:
        cid = store.put_stream(_Counting(f, advance), pin=pin)  # type: ignore[arg-type]
    if as_json:
        print_json({"cid": cid, "cid_v1": to_v1(cid), "size": file.stat().st_size, "pinned": pin})
    else:
        typer.echo(cid)


@store_app.command("get")
def get(
    ctx: typer.Context,
    cid: str = typer.Argument(..., help="the object's CID (Qm… or bafy…)"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write to this file (default: stdout)"),
) -> None:
    """Fetch an object, verifying every block; write it to FILE or stdout."""

    store = backends_of(ctx).store
    if output is None:
        with store.open(cid) as src:
            while piece := src.read(1 << 20):
                sys.stdout.buffer.write(piece)
        sys.stdout.buffer.flush()
        return
    if output.is_dir():  # into a folder: the CID names the file
        output = output / cid
    with progress_bar(f"get {cid[:12]}…", store.size(cid)) as advance:
        store.get_file(cid, output, progress=advance)
    err_console.print(f"wrote {output}", highlight=False)


@store_app.command("ls")
def ls(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List the objects in the store."""
    from eotrust.cli.common import Table

    objects = list(backends_of(ctx).store.list())
    if as_json:
        print_json(objects)
        return
    table = Table("CID", "size", "pinned", box=None)
    for o in objects:
        table.add_row(o.cid, f"{o.size:,}" if o.size >= 0 else "?", "yes" if o.pinned else "no")
    console.print(table)


@store_app.command("verify")
def verify(ctx: typer.Context, cid: str = typer.Argument(..., help="the object's CID")) -> None:
    """Re-hash every block of an object; fail naming the first bad one."""
    from eotrust.cid import validate_cid

    backends_of(ctx).store.verify(cid)
    typer.echo(f"ok {validate_cid(cid)}")


@store_app.command("pin")
def pin(ctx: typer.Context, cid: str = typer.Argument(..., help="the object's CID")) -> None:
    """Pin an object (keep it)."""

    backends_of(ctx).store.pin(cid)
    console.print(f"pinned {cid}", highlight=False)


@store_app.command("unpin")
def unpin(ctx: typer.Context, cid: str = typer.Argument(..., help="the object's CID")) -> None:
    """Unpin an object."""

    backends_of(ctx).store.unpin(cid)
    console.print(f"unpinned {cid}", highlight=False)


@store_app.command("cid")
def cid(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="the file to name"),
    v1: bool = typer.Option(False, "--v1", help="print the CIDv1 (bafy…) form"),
    as_json: bool = JsonOption,
) -> None:
    """Compute FILE's CID as `ipfs add` would, storing nothing."""
    from eotrust.cid import import_stream, to_v1

    workers = settings_of(ctx).hash_workers
    with _source(file) as f, progress_bar(f"cid {file.name}", file.stat().st_size) as advance:
        result = import_stream(f, workers=workers, progress=advance)
    if as_json:
        print_json({"cid": result.cid, "cid_v1": to_v1(result.cid), "size": result.size})
    else:
        typer.echo(to_v1(result.cid) if v1 else result.cid)
