"""`eotrust task`: every move of a task contract, its status and history — thin shells over
:mod:`eotrust.ledger`.

    eotrust task create --as SUBMITTER --application APP --platform PLATFORM [--request DATASET=OWNER …]
    eotrust task add-request TASK --as SUBMITTER --dataset DATASET [--owner OWNER]
    eotrust task lock TASK --as SUBMITTER
    eotrust task ack TASK --as OWNER [--application | --platform | --request N] [--input-cid CID] [--key age1…]
    eotrust task nack TASK --as OWNER [--application | --platform | --request N]
    eotrust task start TASK --as PLATFORM [--execution-id UUID]
    eotrust task add-result TASK --as PLATFORM --cid CID [--owner OWNER]
    eotrust task finish TASK --as PLATFORM
    eotrust task fail TASK --as PLATFORM --reason-cid CID
    eotrust task status TASK [--json]
    eotrust task history TASK [--json]
    eotrust task list [--owner OWNER] [--json]

OWNER is an address or the name of a local party; APP, PLATFORM and DATASET are catalogue
record ids or names (the owner then comes from the catalogue), or any other id with --*-owner.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.text import Text

from eotrust.cli.common import AsOption, JsonOption, acting_party, backends_of, console, print_json, settings_of

if TYPE_CHECKING:
    from eotrust.backends import Backends
    from eotrust.ledger import TaskClient, TaskSnapshot, TxResult
    from eotrust.settings import Settings

task_app = typer.Typer(help="Task contracts on the ledger: create, answer, run, close, inspect.", no_args_is_help=True)

TaskArgument = typer.Argument(..., help="the task contract's address")


def register(app: typer.Typer) -> None:
    app.add_typer(task_app, name="task")


# -- helpers ---------------------------------------------------------------------------------
def _task(ctx: typer.Context, address: str) -> TaskClient:
    return backends_of(ctx).task(address)


def _address(settings: Settings, value: str, what: str) -> str:
    """An address, or the address of the local party of that name."""
    from eth_utils.address import is_address

    from eotrust.ledger.codec import checksum_address

    if value.startswith("0x") or is_address(value):
        return checksum_address(value, what=what)
    from eotrust.party import export_card

    return export_card(settings, value).address


def _catalog_ref(backends: Backends, kind: str, ref: str) -> tuple[str, str | None]:
    """A catalogue record's id and owner (``Catalog.find``); ``(ref, None)`` if the local
    catalogue does not know it (the id is then used as given)."""
    from eotrust.catalog.entries import Kind
    from eotrust.errors import NotFoundError

    try:
        record = backends.catalog.find(ref, Kind(kind))
    except NotFoundError:
        return ref, None
    return record.id, record.owner


def _owner_of(backends: Backends, kind: str, ref: str, owner: str | None) -> tuple[str, str]:
    from eotrust.errors import InvalidInputError

    settings = backends.settings
    record_id, record_owner = _catalog_ref(backends, kind, ref)
    if owner:
        return record_id, _address(settings, owner, f"{kind} owner")
    if record_owner is None:
        raise InvalidInputError(
            f"the catalogue has no {kind} {ref!r}, so its owner is unknown",
            hint=(
                "name its owner: -r DATASET=OWNER (an address or a party)"
                if kind == "dataset"
                else f"register it first, or pass --{kind}-owner ADDRESS|PARTY"
            ),
        )
    return record_id, _address(settings, record_owner, f"{kind} owner")


def _done(task: TaskClient, what: str, as_json: bool, **extra: Any) -> None:
    tx: TxResult | None = task.last_transaction
    if as_json:
        print_json(
            {
                "task": task.address,
                "tx": tx.tx_hash if tx else None,
                "block": tx.block_number if tx else None,
                "gas_used": tx.gas_used if tx else None,
                **extra,
            }
        )
        return
    gas = f" (block {tx.block_number}, gas {tx.gas_used:,})" if tx else ""
    console.print(f"{what}{gas}", highlight=False, soft_wrap=True)


# -- the submitter ----------------------------------------------------------------------------
@task_app.command("create")
def create(
    ctx: typer.Context,
    application: str = typer.Option(..., "--application", "-a", help="application: catalogue id or name, or an id"),
    platform: str = typer.Option(..., "--platform", "-p", help="platform: catalogue id or name, or an id"),
    application_owner: str | None = typer.Option(
        None, "--application-owner", help="address or party (default: from the catalogue)"
    ),
    platform_owner: str | None = typer.Option(
        None, "--platform-owner", help="address or party (default: from the catalogue)"
    ),
    results_key: str | None = typer.Option(
        None, "--results-key", help="age recipient for the outputs (default: yours)"
    ),
    requests: list[str] = typer.Option([], "--request", "-r", help="DATASET or DATASET=OWNER; repeatable"),
    lock: bool = typer.Option(False, "--lock", help="lock it at once (no more requests): owners are asked now"),
    paid: bool = typer.Option(False, "--paid", help="must be funded through the escrow (eotrust fund), which locks it"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a task (through the factory) for an application on a platform; you own it.
    Its requests (and --lock) go in the creating transaction."""
    backends = backends_of(ctx)
    party = acting_party(ctx, as_party)
    app_id, app_owner = _owner_of(backends, "application", application, application_owner)
    platform_id, plat_owner = _owner_of(backends, "platform", platform, platform_owner)
    pairs = [_request_pair(backends, r) for r in requests]
    task = backends.factory.create_task(
        party.account,
        results_recipient=results_key or party.card.age_recipient,
        application_id=app_id,
        application_owner=app_owner,
        platform_id=platform_id,
        platform_owner=plat_owner,
        requests=pairs,
        lock=lock,
        paid=paid,
    )
    created = task.last_transaction
    indices = list(range(len(pairs)))
    if as_json:
        print_json(
            {
                "task": task.address,
                "tx": created.tx_hash if created else None,
                "gas_used": created.gas_used if created else None,
                "requests": indices,
                "paid": paid,
            }
        )
        return
    console.print(f"created task [bold]{task.address}[/] (gas {created.gas_used:,})" if created else task.address)
    if indices:
        console.print(f"  with resource requests {', '.join(f'#{i}' for i in indices)}")


def _request_pair(backends: Backends, text: str) -> tuple[str, str]:
    dataset, _, owner = text.partition("=")
    return _owner_of(backends, "dataset", dataset, owner or None)


@task_app.command("add-request")
def add_request(
    ctx: typer.Context,
    task_address: str = TaskArgument,
    datasets: list[str] = typer.Option(
        ..., "--dataset", "-d", help="dataset: catalogue id or title, or an id; repeatable"
    ),
    owners: list[str] = typer.Option([], "--owner", help="the dataset's owner (address or party), one per --dataset"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Ask data owners for datasets (while the task is Initialized), in one transaction."""
    from eotrust.errors import InvalidInputError

    if owners and len(owners) != len(datasets):
        raise InvalidInputError("give one --owner per --dataset, or none (owners from the catalogue)")
    party = acting_party(ctx, as_party)
    pairs = [_owner_of(backends_of(ctx), "dataset", d, owners[i] if owners else None) for i, d in enumerate(datasets)]
    task = _task(ctx, task_address)
    indices = task.add_requests(party.account, pairs)
    _done(
        task,
        f"added resource requests {', '.join(f'#{i}' for i in indices)} to {task.address}",
        as_json,
        requests=indices,
    )


@task_app.command("lock")
def lock(
    ctx: typer.Context, task_address: str = TaskArgument, as_party: str | None = AsOption, as_json: bool = JsonOption
) -> None:
    """Close the configuration: every owner is now asked to answer."""
    task = _task(ctx, task_address)
    task.lock(acting_party(ctx, as_party).account)
    _done(task, f"locked {task.address}: requests sent", as_json)


# -- the owners -------------------------------------------------------------------------------
def _targets(
    snap: TaskSnapshot, me: str, application: bool, platform: bool, request: int | None
) -> list[tuple[str, int]]:
    """Which requests to answer: those named, else every open one ``me`` owns."""
    from eotrust.errors import InvalidInputError
    from eotrust.ledger import RequestStatus

    if application or platform or request is not None:
        named = [("application", 0)] if application else []
        named += [("platform", 0)] if platform else []
        named += [("resource", request)] if request is not None else []
        return named
    mine: list[tuple[str, int]] = []
    if snap.application_owner == me and snap.application_status is RequestStatus.Requested:
        mine.append(("application", 0))
    if snap.platform_owner == me and snap.platform_status is RequestStatus.Requested:
        mine.append(("platform", 0))
    mine += [("resource", r.index) for r in snap.requests if r.owner == me and r.status is RequestStatus.Requested]
    if not mine:
        raise InvalidInputError(f"{me} has no open request on task {snap.address} (state {snap.state.value})")
    return mine


@task_app.command("ack")
def ack(
    ctx: typer.Context,
    task_address: str = TaskArgument,
    application: bool = typer.Option(False, "--application", help="acknowledge the application request"),
    platform: bool = typer.Option(False, "--platform", help="acknowledge the platform request"),
    request: int | None = typer.Option(None, "--request", help="acknowledge resource request N"),
    input_cid: str | None = typer.Option(None, "--input-cid", help="CID of the stored, encrypted input (resource)"),
    key: str | None = typer.Option(None, "--key", help="platform: age recipient for the inputs (default: yours)"),
    policy: str | None = typer.Option(None, "--policy", help="platform: CID of its execution policy"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Acknowledge your requests (by default every open one you own)."""
    from eotrust.errors import InvalidInputError

    party = acting_party(ctx, as_party)
    task = _task(ctx, task_address)
    targets = _targets(task.status(), party.address, application, platform, request)
    resources = [i for kind, i in targets if kind == "resource"]
    if resources and not input_cid:
        raise InvalidInputError(
            "acknowledging a resource request needs --input-cid", hint="store the encrypted input first"
        )
    if len(resources) > 1:
        raise InvalidInputError(f"you own resource requests {resources}: pick one with --request N")
    done = []
    for kind, index in targets:
        if kind == "application":
            task.ack_application(party.account)
        elif kind == "platform":
            task.ack_platform(party.account, key or party.card.age_recipient, policy)
        else:
            task.ack_request(party.account, index, input_cid or "")
        done.append(f"{kind} request" if kind != "resource" else f"resource request #{index}")
    _done(task, f"acknowledged {', '.join(done)} on {task.address}", as_json, acknowledged=done)


@task_app.command("nack")
def nack(
    ctx: typer.Context,
    task_address: str = TaskArgument,
    application: bool = typer.Option(False, "--application", help="refuse the application request"),
    platform: bool = typer.Option(False, "--platform", help="refuse the platform request"),
    request: int | None = typer.Option(None, "--request", help="refuse resource request N"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Refuse a request (by default your first open one): the task ends Nacked."""
    party = acting_party(ctx, as_party)
    task = _task(ctx, task_address)
    kind, index = _targets(task.status(), party.address, application, platform, request)[0]
    if kind == "application":
        task.nack_application(party.account)
    elif kind == "platform":
        task.nack_platform(party.account)
    else:
        task.nack_request(party.account, index)
    what = f"resource request #{index}" if kind == "resource" else f"{kind} request"
    _done(task, f"refused the {what}: task {task.address} is Nacked", as_json, refused=what)


# -- the platform ------------------------------------------------------------------------------
@task_app.command("start")
def start(
    ctx: typer.Context,
    task_address: str = TaskArgument,
    execution_id: str | None = typer.Option(None, "--execution-id", help="a UUID (default: a new one)"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Start the execution (runner): every request must be acknowledged."""
    task = _task(ctx, task_address)
    execution = task.start(acting_party(ctx, as_party).account, execution_id)
    _done(task, f"started {task.address}: execution {execution}", as_json, execution_id=execution)


@task_app.command("add-result")
def add_result(
    ctx: typer.Context,
    task_address: str = TaskArgument,
    cid: str = typer.Option(..., "--cid", help="CID of the stored, encrypted result"),
    owner: str | None = typer.Option(None, "--owner", help="the result's owner (default: the submitter)"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Record a result (collector)."""
    settings = settings_of(ctx)
    task = _task(ctx, task_address)
    index = task.add_result(
        acting_party(ctx, as_party).account, cid, _address(settings, owner, "result owner") if owner else None
    )
    _done(task, f"recorded result #{index} {cid} on {task.address}", as_json, index=index)


@task_app.command("finish")
def finish(
    ctx: typer.Context, task_address: str = TaskArgument, as_party: str | None = AsOption, as_json: bool = JsonOption
) -> None:
    """Close a running task with its results (collector): Finished, for good."""
    task = _task(ctx, task_address)
    task.finish(acting_party(ctx, as_party).account)
    _done(task, f"finished {task.address}", as_json)


@task_app.command("fail")
def fail(
    ctx: typer.Context,
    task_address: str = TaskArgument,
    reason_cid: str = typer.Option(..., "--reason-cid", help="CID of a document saying why"),
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Close a running task as Failed, with the CID of the reason."""
    task = _task(ctx, task_address)
    task.fail(acting_party(ctx, as_party).account, reason_cid)
    _done(task, f"task {task.address} failed: reason {reason_cid}", as_json)


# -- reading ------------------------------------------------------------------------------------
def _names(backends: Backends, snap: TaskSnapshot) -> dict[str, str]:
    """Names of the application, platform and datasets from the local catalogue, where it
    knows them (catalogue ids are CIDs of records). Best effort: the chain is the truth."""
    from eotrust.catalog.entries import ApplicationInfo, DatasetInfo, PlatformInfo
    from eotrust.errors import EotrustError
    from eotrust.ledger.models import record_id

    names: dict[str, str] = {}
    for hex_id in [snap.application_id, snap.platform_id, *[r.id for r in snap.requests]]:
        try:
            body = backends.catalog.get(record_id(hex_id)).body
        except (EotrustError, ValueError):
            continue
        if isinstance(body, (ApplicationInfo, PlatformInfo)):
            names[hex_id] = body.name
        elif isinstance(body, DatasetInfo):
            names[hex_id] = body.title
    return names


def _id(hex_id: str) -> str:
    """A catalogue id as the CID of the record it names (catalogue record ids are CIDs)."""
    from eotrust.ledger.models import record_id

    return record_id(hex_id)


def status_text(snap: TaskSnapshot, names: dict[str, str], where: str) -> Text:
    """What :func:`print_status` prints, as rich text (the demo shows it between its steps)."""
    with console.capture() as printed:
        print_status(snap, names, where)
    return Text.from_ansi(printed.get().rstrip("\n"))


def print_status(snap: TaskSnapshot, names: dict[str, str], where: str) -> None:
    """The whole contract, laid out as the seed's ``task-manager status --address`` did."""

    def row(label: str, value: object) -> None:  # values hold catalogue names other parties chose: never markup
        shown = value if value not in (None, "") else "—"
        console.print(f"  {label:<26} {shown}", highlight=False, soft_wrap=True, markup=False)

    console.print(f"[bold]Task[/] {snap.address}  [dim]({where})[/]", soft_wrap=True)
    row("task owner", snap.submitter)
    row("task state", snap.state.value)
    row("results security policy", f"age X25519: {snap.results_recipient}")
    if snap.failure:
        row("failure reason", f"/ipfs/{snap.failure}")
    console.print("[bold]Platform request[/]")
    row("platform uuid", _id(snap.platform_id))
    row("platform name", names.get(snap.platform_id))
    row("platform owner", snap.platform_owner)
    row("platform status", snap.platform_status.value)
    row("execution id", snap.execution_id)
    policy = f"age X25519: {snap.platform_key}" if snap.platform_key else None
    row("platform security policy", policy)
    row(
        "execution policy",
        f"/ipfs/{snap.platform_policy}" if snap.platform_policy else ("default" if snap.platform_key else None),
    )
    console.print("[bold]Application request[/]")
    row("application uuid", _id(snap.application_id))
    row("application name", names.get(snap.application_id))
    row("application owner", snap.application_owner)
    row("application status", snap.application_status.value)
    console.print(f"[bold]Resource requests[/] ({len(snap.requests)})")
    for r in snap.requests:
        console.print(f"  [bold]#{r.index}[/]")
        row("  dataset uuid", _id(r.id))
        row("  dataset name", names.get(r.id))
        row("  data owner", r.owner)
        row("  request status", r.status.value)
        row("  input IPFS address", f"/ipfs/{r.input_cid}" if r.input_cid else None)
    console.print(f"[bold]Task results[/] ({len(snap.results)})")
    for res in snap.results:
        console.print(f"  [bold]#{res.index}[/]")
        row("  result owner", res.owner)
        row("  result IPFS address", f"/ipfs/{res.cid}")


@task_app.command("status")
def status(ctx: typer.Context, task_address: str = TaskArgument, as_json: bool = JsonOption) -> None:
    """Everything the task contract holds: owner, state, policies, each request and result."""
    task = _task(ctx, task_address)
    snap = task.status()
    if as_json:
        print_json(snap)
        return
    print_status(snap, _names(backends_of(ctx), snap), task.chain.description)


@task_app.command("history")
def history(ctx: typer.Context, task_address: str = TaskArgument, as_json: bool = JsonOption) -> None:
    """Every event of the task, oldest first."""
    events = _task(ctx, task_address).history()
    if as_json:
        print_json(events)
        return
    for e in events:
        when = datetime.fromtimestamp(e.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S") if e.timestamp else "?"
        console.print(
            f"[dim]{when}  block {e.block_number:>6}[/]  {escape(e.describe())}", highlight=False, soft_wrap=True
        )


@task_app.command("list")
def list_(
    ctx: typer.Context,
    owner: str | None = typer.Option(None, "--owner", help="only tasks this address or party submitted"),
    as_json: bool = JsonOption,
) -> None:
    """Tasks of this chain's factory (all, or one submitter's), with their states."""
    from eotrust.cli.common import Table

    backends = backends_of(ctx)
    factory = backends.factory
    addresses = factory.tasks_of(_address(backends.settings, owner, "owner")) if owner else factory.all_tasks()
    snaps = [backends.task(a).status() for a in addresses]
    if as_json:
        print_json(
            [
                {
                    "task": s.address,
                    "submitter": s.submitter,
                    "state": s.state.value,
                    "requests": len(s.requests),
                    "results": len(s.results),
                }
                for s in snaps
            ]
        )
        return
    table = Table("task", "submitter", "state", "requests", "results", box=None, padding=(0, 1))
    for s in snaps:
        table.add_row(s.address, s.submitter, s.state.value, str(len(s.requests)), str(len(s.results)))
    console.print(table)
    console.print(f"[dim]{len(snaps)} task(s) on {backends.chain.description}[/]")
