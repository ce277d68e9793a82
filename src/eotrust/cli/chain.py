"""`eotrust chain check`: walk the embedded chain's journal record by record.

Every record's magic, length and checksum are checked; a bad record before the end is
corruption, reported with its offset (non-zero exit); a torn final record (a writer that died
mid-append) is reported and is harmless. The snapshot a fresh process starts from is
compared with a replay of the journal (one that does not match is reported, and ignored by
every process). Nothing is changed."""

from __future__ import annotations

import typer

from eotrust.cli.common import JsonOption, console, print_json, settings_of

chain_app = typer.Typer(help="The embedded chain's journal: check it.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(chain_app, name="chain")


@chain_app.command("check")
def check(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Check every record of the embedded chain's journal; name the offset of a bad one."""
    from eotrust.errors import ConfigError
    from eotrust.ledger.embedded import ChainJournal, check_journal, check_snapshot
    from eotrust.urls import redacted_url

    settings = settings_of(ctx)
    if settings.chain_url:
        raise ConfigError(
            f"the chain is the JSON-RPC node {redacted_url(settings.chain_url)}, not the embedded journal",
            hint="`eotrust chain check` checks the embedded chain (unset EOTRUST_CHAIN_URL)",
        )
    path = ChainJournal(settings.chain_dir).path
    if not path.exists():
        if as_json:
            print_json({"path": str(path), "size": 0, "records": 0, "torn_tail": 0})
        else:
            console.print(f"no chain journal yet at {path} (the embedded chain starts on first use)", highlight=False)
        return
    report = check_journal(path)
    snap = check_snapshot(settings.chain_dir)
    snapshot = {"present": snap.present, "offset": snap.offset, "matches_replay": snap.matches_replay}
    if as_json:
        print_json(
            {
                "path": str(report.path),
                "size": report.size,
                "records": report.records,
                "torn_tail": report.torn_tail,
                "snapshot": snapshot,
            }
        )
        return
    console.print(f"[green]✓[/] {report.path}: {report.records} records intact, {report.size} bytes", highlight=False)
    if snap.matches_replay:
        console.print(f"[green]✓[/] snapshot {snap.path} equals the replay up to offset {snap.offset}", highlight=False)
    elif snap.present:
        console.print(
            f"[yellow]![/] snapshot {snap.path} does not match this journal (ignored; the next process that replays rewrites it)",
            highlight=False,
        )
    if report.torn_tail:
        console.print(
            f"[yellow]![/] a torn final record ({report.torn_tail} bytes, a writer that died mid-append) "
            "is ignored and set aside by the next write",
            highlight=False,
        )
