"""The platform's usage record of a task: what the run took, measured from its run record,
priced at the quote's rates, never above the quote.

Measured: the run's duration (its record's start and end), the step-seconds each step held its
declared cores, GPUs and memory (each step instance's measured start and end), and the bytes of
the task's results (the platform's signed result records). Each line is charged
``measured × rate`` rounded up, but never more than the quote's line; the application's owner
is owed its price per run and each data owner its price per use. A failed run pays as the
quote's failure fee says (the platform's flat fee under ``flat-fee``, nothing under ``refund``;
the owners nothing) — what the escrow pays when a Failed task is released. What is not owed returns to the submitter.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from eotrust.catalog.entries import Kind, Wei, _wei
from eotrust.catalog.service import Catalog
from eotrust.clock import utc_iso
from eotrust.crypto.signing import Owner, account_of
from eotrust.errors import IntegrityError, PermissionDeniedError, first_problem
from eotrust.market.estimate import GB, HOUR, Declared, declared_resources, read_run, up
from eotrust.market.notes import task_notes
from eotrust.market.quote import PLATFORM_ITEMS, Quote, cost, decimal_amount, load_quote
from eotrust.market.signed import (
    SignedDocument,
    load_document,
    sign_document,
    store_document,
)
from eotrust.settings import Settings
from eotrust.store.base import Store
from eotrust.workflow.record import RunRecord

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain

KIND = "eotrust-usage/1"


class UsageLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str
    payee: str
    quantity: str
    rate: Wei
    measured: Wei  # quantity × rate
    quoted: Wei
    charged: Wei  # min(measured, quoted), or 0 where the failure terms say so

    _whole = field_validator("rate", "measured", "quoted", "charged", mode="before")(_wei)
    _quantity = field_validator("quantity", mode="before")(decimal_amount)


class Owing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str
    amount: Wei

    _whole = field_validator("amount", mode="before")(_wei)


class UsageBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    quote_cid: str
    run_cid: str | None
    outcome: Literal["finished", "failed"]
    duration_s: str
    lines: list[UsageLine]
    owed: list[Owing] = Field(description="per payee of the quote, in its order")
    charged: Wei
    refund: Wei
    measured_at: str

    _whole = field_validator("charged", "refund", mode="before")(_wei)
    _duration = field_validator("duration_s", mode="before")(decimal_amount)


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    cid: str
    body: UsageBody
    signer: str

    @property
    def amounts(self) -> list[int]:
        return [o.amount for o in self.body.owed]


def run_of_task(
    catalog: Catalog,
    store: Store,
    quote: Quote,
    recorded: Collection[str] | None = None,
    *,
    chain: str | None = None,
) -> tuple[str | None, RunRecord | None, int]:
    """(run CID, run record, bytes of results) from the platform's signed result records of the
    task — of those whose CID the task's contract holds, when ``recorded`` gives them; of
    ``chain`` (a ``Chain.key``) where given (a dev chain started afresh gives its tasks the
    previous chain's addresses: that task's run and results are not this one's)."""
    results = [
        r
        for r in catalog.results(task=quote.body.task, chain=chain)
        if r.owner.lower() == quote.body.platform.lower() and (recorded is None or r.body.cid in recorded)
    ]
    stored = sum({r.body.cid: r.body.size for r in results}.values())  # each stored object once
    # a failed run's log is catalogued with no run record (run_cid ""): it names none
    run_cids = sorted({r.body.run_cid for r in results if r.body.run_cid})
    if len(run_cids) > 1:
        raise IntegrityError(f"task {quote.body.task}: its result records name {len(run_cids)} run records")
    if not run_cids:
        return None, None, stored
    run = read_run(store, run_cids[0])
    if run is None:
        raise IntegrityError(f"task {quote.body.task}: {run_cids[0]} is not a run record in this store")
    return run_cids[0], run, stored


def measure(run: RunRecord | None, declared: dict[str, Declared], stored_bytes: int) -> dict[str, Decimal]:
    """Quantities of the platform's lines, from the run record."""
    if run is None:
        return {
            "flat": Decimal(1),
            "cpu": Decimal(0),
            "gpu": Decimal(0),
            "memory": Decimal(0),
            "storage": up(Decimal(stored_bytes) / GB),
            "duration": Decimal(0),
        }
    cpu = gpu = mem = Decimal(0)
    for step in run.steps:
        held = declared.get(step.step, Declared())
        seconds = Decimal(str(step.duration_s))
        cpu += seconds * held.cpus
        gpu += seconds * held.gpus
        mem += seconds * held.memory_mb / Decimal(1024)
    return {
        "flat": Decimal(1),
        "cpu": up(cpu / HOUR),
        "gpu": up(gpu / HOUR),
        "memory": up(mem / HOUR),
        "storage": up(Decimal(stored_bytes) / GB),
        "duration": up(Decimal(str(max(0.0, run.ended - run.started))) / HOUR),
    }


def make_usage(
    quote: Quote,
    run_cid: str | None,
    run: RunRecord | None,
    quantities: dict[str, Decimal],
    signer: Owner,
    *,
    now: datetime | None = None,
) -> SignedDocument:
    """The signed usage record; ``signer`` must be the quote's platform owner."""
    account = account_of(signer, "a usage record")
    if account.address.lower() != quote.body.platform.lower():
        raise PermissionDeniedError(
            f"usage of task {quote.body.task} is recorded by its platform owner {quote.body.platform}, "
            f"not by {account.address}"
        )
    finished = run is not None and run.status == "succeeded"
    lines: list[UsageLine] = []
    for item in quote.body.items:
        if item.item in PLATFORM_ITEMS:
            quantity = quantities.get(item.item, Decimal(0))
            measured = cost(quantity, item.rate)
            charged = min(measured, item.cost) if finished else 0
            if not finished and item.item == "flat":
                charged = quote.body.fail_fee  # never above the flat line (check_quote)
        else:
            quantity = Decimal(1)
            measured = item.rate
            charged = min(measured, item.cost) if finished else 0
        lines.append(
            UsageLine(
                item=item.item,
                payee=item.payee,
                quantity=str(quantity),
                rate=item.rate,
                measured=measured,
                quoted=item.cost,
                charged=charged,
            )
        )
    owed = [
        Owing(address=p.address, amount=sum(line.charged for line in lines if line.payee.lower() == p.address.lower()))
        for p in quote.body.payees
    ]
    charged = sum(o.amount for o in owed)
    body = UsageBody(
        task=quote.body.task,
        quote_cid=quote.cid,
        run_cid=run_cid,
        outcome="finished" if finished else "failed",
        duration_s=str(Decimal(str(max(0.0, run.ended - run.started))) if run else Decimal(0)),
        lines=lines,
        owed=owed,
        charged=charged,
        refund=quote.body.total - charged,
        measured_at=utc_iso(now or datetime.now(UTC)),
    )
    return sign_document(KIND, body.model_dump(mode="json"), account)


def check_usage(usage: Usage, quote: Quote) -> None:
    """IntegrityError unless the usage record is the quote's platform owner's, for the quote's
    task, never above the quote (per line and per payee), and adds up."""
    body = usage.body
    if usage.signer.lower() != quote.body.platform.lower():
        raise IntegrityError(
            f"usage record {usage.cid} is signed by {usage.signer}, not by the platform owner {quote.body.platform}"
        )
    if body.quote_cid != quote.cid or body.task.lower() != quote.body.task.lower():
        raise IntegrityError(
            f"usage record {usage.cid} is for quote {body.quote_cid} of task {body.task}, not {quote.cid}"
        )
    items = {(i.item, i.payee.lower()): i for i in quote.body.items}
    finished = body.outcome == "finished"
    for line in body.lines:
        item = items.get((line.item, line.payee.lower()))
        if item is None or line.rate != item.rate or line.quoted != item.cost:
            raise IntegrityError(
                f"usage record {usage.cid}: line {line.item} for {line.payee} is not a line of the quote at its rate"
            )
        if line.measured != cost(Decimal(line.quantity), line.rate):
            raise IntegrityError(
                f"usage record {usage.cid}: line {line.item}: {line.quantity} × {line.rate} is not {line.measured} wei"
            )
        if line.charged > item.cost or line.charged > line.measured:
            raise IntegrityError(
                f"usage record {usage.cid}: line {line.item} charges {line.charged} wei, above the quote or the measure"
            )
        # what a line charges follows from its measure and the quote's terms (make_usage's rule)
        due = min(line.measured, item.cost) if finished else (quote.body.fail_fee if item.item == "flat" else 0)
        if line.charged != due:
            raise IntegrityError(
                f"usage record {usage.cid}: line {line.item} charges {line.charged} wei; its measure and the quote's "
                f"terms give {due}"
            )
    if len(body.owed) != len(quote.body.payees):
        raise IntegrityError(
            f"usage record {usage.cid} names {len(body.owed)} payees, the quote {len(quote.body.payees)}"
        )
    for owing, payee in zip(body.owed, quote.body.payees, strict=True):
        should = sum(line.charged for line in body.lines if line.payee.lower() == payee.address.lower())
        if owing.address.lower() != payee.address.lower() or owing.amount != should or owing.amount > payee.max:
            raise IntegrityError(
                f"usage record {usage.cid}: what it owes {owing.address} does not follow from its lines and the quote"
            )
    if body.charged != sum(o.amount for o in body.owed) or body.charged + body.refund != quote.body.total:
        raise IntegrityError(
            f"usage record {usage.cid}: charged {body.charged} + refund {body.refund} is not the quote's total {quote.body.total}"
        )


def _measured(
    catalog: Catalog, store: Store, quote: Quote, recorded: Collection[str] | None, chain: str | None
) -> tuple[str | None, RunRecord | None, dict[str, Decimal]]:
    """(run CID, run record, quantities of the platform's lines) from the platform's records."""
    run_cid, run, stored = run_of_task(catalog, store, quote, recorded, chain=chain)
    app = catalog.get(quote.body.application_id, Kind.APPLICATION)
    declared, _ = declared_resources(store, app.body.workflow_cid)
    return run_cid, run, measure(run, declared, stored)


def check_measured(
    usage: Usage,
    quote: Quote,
    catalog: Catalog,
    store: Store,
    recorded: Collection[str] | None = None,
    *,
    chain: str | None = None,
) -> None:
    """IntegrityError unless the usage record measures what the platform's own signed records
    say: its run record (by the CID its result records name), the application's declared
    resources and the bytes of its results. A platform that signs a usage record claiming more
    than its run record took (an hour of CPU for a run of seconds, up to the quote's line) is
    named here, by anyone who can read the catalogue and the store. ``recorded``: the result
    CIDs the task's contract holds (then only those result records count); ``chain``: the
    ``Chain.key`` whose result records alone count (see :func:`run_of_task`)."""
    run_cid, run, quantities = _measured(catalog, store, quote, recorded, chain)
    body = usage.body
    if body.run_cid != run_cid:
        raise IntegrityError(
            f"usage record {usage.cid} measures run {body.run_cid}; the platform's result records name {run_cid}"
        )
    finished = run is not None and run.status == "succeeded"
    if (body.outcome == "finished") != finished:
        raise IntegrityError(f"usage record {usage.cid} says the run {body.outcome}; its run record says otherwise")
    for line in body.lines:
        if line.item in PLATFORM_ITEMS and Decimal(line.quantity) != quantities.get(line.item, Decimal(0)):
            raise IntegrityError(
                f"usage record {usage.cid}: line {line.item} says {line.quantity}; the run record and result "
                f"records give {quantities.get(line.item, Decimal(0))}",
                hint="the platform charged for more than its own records show",
            )


def _parse(document: SignedDocument, cid: str) -> Usage:
    try:
        body = UsageBody.model_validate(document.body)
    except ValidationError as exc:
        raise IntegrityError(f"usage record {cid}: {first_problem(exc)}") from None
    return Usage(cid=cid, body=body, signer=document.signer)


def record_usage(
    settings: Settings,
    catalog: Catalog,
    store: Store,
    quote: Quote,
    signer: Owner,
    recorded: Collection[str] | None = None,
    *,
    chain: Chain,
) -> Usage:
    """Measure the task of ``quote`` from its run record, sign the usage record as the platform,
    store it by CID and note it in the home's index of the task on ``chain`` (only this chain's
    result records are measured)."""
    run_cid, run, quantities = _measured(catalog, store, quote, recorded, chain.key)
    document = make_usage(quote, run_cid, run, quantities, signer)
    usage = _parse(document, "(new)")
    check_usage(usage, quote)
    cid = store_document(store, document)
    index = task_notes(settings, chain, "usage", quote.body.task)
    (index / f"{usage.body.measured_at}_{cid}").touch()
    return Usage(cid=cid, body=usage.body, signer=usage.signer)


def load_usage(
    store: Store,
    cid: str,
    catalog: Catalog | None = None,
    recorded: Collection[str] | None = None,
    *,
    chain: str | None = None,
) -> tuple[Usage, Quote]:
    """The checked usage record at ``cid`` and the checked quote it is for; with ``catalog``,
    also re-measured from the platform's run and result records (:func:`check_measured`).
    ``chain``: the ``Chain.key`` of the task's chain, whose task and result records alone count
    (a dev chain started afresh gives its tasks the previous chain's addresses)."""
    usage = _parse(load_document(store, cid, KIND), cid)
    quote = load_quote(store, usage.body.quote_cid, catalog, chain=chain)
    check_usage(usage, quote)
    if catalog is not None:
        check_measured(usage, quote, catalog, store, recorded, chain=chain)
    return usage, quote


def latest_usage(
    settings: Settings,
    store: Store,
    task: str,
    catalog: Catalog | None = None,
    recorded: Collection[str] | None = None,
    *,
    chain: Chain,
) -> tuple[Usage, Quote] | None:
    """The latest usage record noted in this home for ``task`` on ``chain`` (another chain's, a
    dev chain started afresh at the same addresses, is not), checked; None where there is none."""
    root = task_notes(settings, chain, "usage", task, create=False)
    names = sorted(p.name for p in root.iterdir() if "_" in p.name) if root.is_dir() else []
    if not names:
        return None
    return load_usage(store, names[-1].split("_", 1)[1], catalog, recorded, chain=chain.key)


__all__ = [
    "Usage",
    "check_measured",
    "check_usage",
    "latest_usage",
    "load_usage",
    "make_usage",
    "measure",
    "record_usage",
]
