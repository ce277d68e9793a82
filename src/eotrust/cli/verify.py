"""`eotrust verify RESULT_CID|TASK_ADDRESS`: check a result end to end and print each check."""

from __future__ import annotations

import typer

from eotrust.cli.common import JsonOption, backends_of, console, print_json

#: Exit status when nothing failed but some checks could not run (objects or keys not here).
INCOMPLETE_EXIT = 2


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def print_verdict(verdict) -> None:  # type: ignore[no-untyped-def]
    from rich.text import Text

    from eotrust.cli.common import Table

    table = Table(
        title=f"verify {verdict.target}"
        + (f" (task {verdict.task})" if verdict.task and verdict.task != verdict.target else "")
    )
    table.add_column("", width=2)
    table.add_column("check")
    table.add_column("detail", overflow="fold")
    marks = {
        True: Text("✓", style="green"),
        False: Text("✗", style="bold red"),
        None: Text("–", style="yellow"),
    }
    for check in verdict.checks:
        table.add_row(marks[check.ok], check.name, check.detail)
    console.print(table)
    skipped = len(verdict.skipped)
    if verdict.ok:
        console.print(f"[bold green]VERIFIED[/]: all {len(verdict.checks)} checks ran and hold")
    elif verdict.name == "INCOMPLETE":
        console.print(
            f"[bold yellow]INCOMPLETE[/]: {len(verdict.checks) - skipped} checks hold, {skipped} could not run here:"
        )
        for check in verdict.skipped:
            console.print(f"  – {check.name}: {check.detail}", highlight=False)
    else:
        console.print(f"[bold red]NOT VERIFIED[/]: {len(verdict.failures)} check(s) fail:")
        for check in verdict.failures:
            console.print(f"  ✗ {check.name}: {check.detail}", highlight=False)


def verify(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="a result CID or a task contract address"),
    as_party: str | None = typer.Option(None, "--as", help="also decrypt the results as this party (the submitter)"),
    as_json: bool = JsonOption,
) -> None:
    """Check a result or task end to end and print a verdict with each check.

    Exit 0: VERIFIED (every check ran and holds); 1: NOT VERIFIED (a check fails, or the
    contract is not a task of the configured factory); 2: INCOMPLETE (nothing fails, but some
    checks could not run here: objects not in this store, keys not held).

    Walks back to the contract, acknowledgments, inputs, application and run record, re-hashes what is here and checks every signature."""
    from eotrust.verify import verify as run_verify

    backends = backends_of(ctx)
    identity = backends.load_party(as_party).age_identity if as_party else None
    verdict = run_verify(backends, target, identity=identity)
    if as_json:
        print_json(
            {
                "target": verdict.target,
                "task": verdict.task,
                "verdict": verdict.name,
                "ok": verdict.ok,
                "checks": verdict.checks,
            }
        )
    else:
        print_verdict(verdict)
    if verdict.name == "INCOMPLETE":
        raise typer.Exit(INCOMPLETE_EXIT)
    if not verdict.ok:
        raise typer.Exit(1)
