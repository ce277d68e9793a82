"""`eotrust flow`: each party's part of the task flow, one command per action.

eotrust flow request --as SUBMITTER --application APP --platform PLATFORM -i NAME=DATASET …
eotrust flow answer TASK --as OWNER [--refuse]
eotrust flow collect TASK --as SUBMITTER -o DIR
eotrust flow failure-log TASK --as SUBMITTER
"""

from __future__ import annotations

from pathlib import Path

import typer

from eotrust.cli.common import AsOption, JsonOption, acting_party, backends_of, console, print_json

flow_app = typer.Typer(help="The task flow: request, answer, collect.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(flow_app, name="flow")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    from eotrust.errors import InvalidInputError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{what} {item!r} is not NAME=VALUE")
        out[key] = value
    return out


def _param_value(text: str) -> object:
    from eotrust.errors import InvalidInputError
    from eotrust.limits import load_json

    try:
        return load_json(text, what="the parameter value")  # bounded: size and depth (issue 12)
    except InvalidInputError as exc:
        if "not valid JSON" in exc.message:
            return text
        raise


@flow_app.command("request")
def request(
    ctx: typer.Context,
    application: str = typer.Option(..., "--application", "-a", help="application record id or name"),
    platform: str = typer.Option(..., "--platform", "-p", help="platform record id or name"),
    inputs: list[str] = typer.Option(..., "--input", "-i", help="INPUT=DATASET (record id or title); repeatable"),
    params: list[str] = typer.Option([], "--param", help="NAME=VALUE (JSON values accepted); repeatable"),
    paid: bool = typer.Option(
        False, "--paid", help="a paid task: left unlocked until you fund its quote (eotrust fund)"
    ),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Open a task: create its contract, name every request, give your key for the outputs, lock it
    (a --paid task is locked when you fund the platform's quote: eotrust quote, eotrust fund)."""
    from eotrust.roles.submitter.request import TaskRequest, open_task

    party = acting_party(ctx, as_party)
    req = TaskRequest(
        application=application,
        platform=platform,
        inputs=_pairs(inputs, "--input"),
        params={k: _param_value(v) for k, v in _pairs(params, "--param").items()},
    )
    opened = open_task(backends_of(ctx), party, req, paid=paid)
    if as_json:
        print_json({"address": opened.address, "record": opened.record.id, "paid": paid})
        return
    if paid:
        console.print(
            f"paid task [bold]{opened.address}[/] opened (record {opened.record.id}); "
            f"once the platform quotes it: eotrust fund {opened.address}",
            soft_wrap=True,
        )
    else:
        console.print(f"task [bold]{opened.address}[/] opened and locked (record {opened.record.id})")
    typer.echo(opened.address)


@flow_app.command("answer")
def answer(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="the task contract's address"),
    refuse: bool = typer.Option(False, "--refuse", help="refuse instead of acknowledging (the task is Nacked)"),
    accept_platform_key: str | None = typer.Option(
        None,
        "--accept-platform-key",
        help="seal for this age key although the platform did not register it (explicit override)",
    ),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Answer every open request you own on a task (datasets are encrypted for the platform's
    registered key; any other key is refused unless named with --accept-platform-key)."""
    from eotrust.roles.owners.answer import answer_task

    answers = answer_task(
        backends_of(ctx), acting_party(ctx, as_party), task, refuse=refuse, accept_platform_key=accept_platform_key
    )
    if as_json:
        print_json(answers)
        return
    for a in answers:
        verb = "acknowledged" if a.acknowledged else "refused"
        console.print(
            f"{a.kind} request {a.index}: {verb} — {a.detail}" + (f" — stored {a.cid}" if a.cid else ""),
            highlight=False,
        )


@flow_app.command("collect")
def collect(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="the task contract's address"),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="directory for the decrypted results"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Download, check and decrypt the results of a Finished task."""
    from eotrust.roles.submitter.collect import collect_results

    results = collect_results(backends_of(ctx), acting_party(ctx, as_party), task, output)
    if as_json:
        print_json(results)
        return
    for r in results:
        how = "decrypted" if r.encrypted else "copied (public)"
        console.print(f"{r.name}: {how} → {r.path}  ({r.plaintext_cid})", highlight=False)


@flow_app.command("failure-log")
def failure_log(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="the task contract's address"),
    as_party: str | None = AsOption,
) -> None:
    """Decrypt and print the error log of a Failed task."""
    from eotrust.cli.common import echo_text
    from eotrust.roles.submitter.collect import failure_log as read_log

    echo_text(read_log(backends_of(ctx), acting_party(ctx, as_party), task), nl=False)
