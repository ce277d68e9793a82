"""The rates a task is charged, read from the signed catalogue records it names.

The platform's record carries its prices per CPU-hour, GPU-hour, GB-hour of memory, GB stored
and a flat fee; the application's record its owner's price per run; each dataset's record its
owner's price per use. A record without prices charges nothing. Every price is in wei.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eotrust.catalog.entries import (
    ApplicationInfo,
    Body,
    BodyT,
    DatasetInfo,
    Kind,
    PlatformInfo,
    PlatformPrices,
    Record,
)
from eotrust.catalog.service import Catalog
from eotrust.errors import IntegrityError


@dataclass(frozen=True)
class Owed:
    """A fixed price owed to one owner for one use: the application per run, a dataset per use."""

    item: str  # "application" | "dataset:<input name>"
    record_id: str
    payee: str
    price: int


@dataclass(frozen=True)
class TaskPrices:
    """Who a task pays, and at what rates."""

    task: str
    submitter: str
    application: Record[ApplicationInfo]
    platform: Record[PlatformInfo]
    datasets: dict[str, Record[DatasetInfo]]  # workflow input name -> dataset record
    compute: PlatformPrices
    fixed: tuple[Owed, ...]

    @property
    def platform_owner(self) -> str:
        return self.platform.owner


def current_terms(catalog: Catalog, record: Record[BodyT]) -> Record[BodyT]:
    """The owner's current terms for what ``record`` describes: its newest record of the same
    content (a dataset: the same file CID; an application: the same workflow CID). An owner
    changes its prices or policy by signing a new record; a task that names an older one is
    held to the new terms, so no one escapes a policy by naming a record from before it."""
    body = record.body
    same: list[Record[Body]]
    if isinstance(body, DatasetInfo):
        same = [r for r in catalog.list(Kind.DATASET, owner=record.owner) if r.body.cid == body.cid]
    elif isinstance(body, ApplicationInfo):
        same = [
            r for r in catalog.list(Kind.APPLICATION, owner=record.owner) if r.body.workflow_cid == body.workflow_cid
        ]
    else:
        return record
    # newest first; records signed in the same second: the one with terms, then by id (a fixed order)
    candidates: list[Record[Body]] = [*same, record]
    return max(candidates, key=lambda r: (r.created, _has_terms(r), r.id)).narrow(type(body))


def _has_terms(record: Record[Body]) -> bool:
    body = record.body
    if isinstance(body, DatasetInfo):
        return body.price is not None or body.policy is not None
    return isinstance(body, ApplicationInfo) and body.price is not None


def task_prices(catalog: Catalog, task: str, *, submitter: str | None = None, chain: str | None = None) -> TaskPrices:
    """The rates of the task at contract address ``task``, from its ``submitter``'s signed record
    (the contract's submitter: :meth:`Catalog.task`) and the signed records it names (each
    checked as it is read). Without ``submitter`` (no chain at hand): the newest record of the address.
    ``chain`` (a ``Chain.key``): only that chain's records count (:meth:`Catalog.tasks`)."""
    record = catalog.task(task, submitter=submitter, chain=chain)
    info = record.body
    application = catalog.get(info.application_id, Kind.APPLICATION)
    platform = catalog.get(info.platform_id, Kind.PLATFORM)
    app_info = current_terms(catalog, application).body
    plat_info = platform.body
    datasets = {name: catalog.get(dataset_id, Kind.DATASET) for name, dataset_id in sorted(info.inputs.items())}
    fixed = [Owed("application", application.id, application.owner, app_info.price.per_use if app_info.price else 0)]
    for name, dataset in datasets.items():
        ds = current_terms(catalog, dataset).body
        fixed.append(Owed(f"dataset:{name}", dataset.id, dataset.owner, ds.price.per_use if ds.price else 0))
    if info.address.lower() != task.lower():
        raise IntegrityError(f"the catalogue's task record {record.id} names contract {info.address}, not {task}")
    return TaskPrices(
        task=info.address,
        submitter=record.owner,
        application=application,
        platform=platform,
        datasets=datasets,
        compute=plat_info.prices or PlatformPrices(),
        fixed=tuple(fixed),
    )


UNITS = {"wei": 0, "gwei": 9, "ether": 18, "eth": 18}


def parse_amount(text: str) -> int:
    """An amount of ether as a whole number of wei: ``123`` (wei), ``50gwei``, ``0.01ether``.
    InvalidInputError for anything negative, fractional in wei, or above the largest price."""
    from decimal import (
        Decimal,
        Inexact,
        InvalidOperation,
        Overflow,
        Rounded,
        Underflow,
        localcontext,
    )

    from eotrust.catalog.entries import MAX_WEI
    from eotrust.errors import InvalidInputError

    raw = text.strip().lower().replace("_", "")
    unit = next((u for u in sorted(UNITS, key=len, reverse=True) if raw.endswith(u)), "wei")
    number = raw[: len(raw) - len(unit)].strip() if raw.endswith(unit) else raw
    plain = re.fullmatch(r"(\d*)(?:\.(\d*))?", number)
    if plain and (plain.group(1) or plain.group(2)):  # digits: zeros that change nothing go, so length means size
        whole, fraction = plain.group(1).lstrip("0"), (plain.group(2) or "").rstrip("0")
        if len(whole) > len(str(MAX_WEI)):
            raise InvalidInputError(f"{text[:80]} is above the largest price ({MAX_WEI} wei)")
        number = f"{whole or '0'}.{fraction}" if fraction else whole or "0"
    try:
        with localcontext() as ctx:  # exact, or refused: nothing rounds silently to a price
            ctx.prec = 100
            for trap in (Inexact, Rounded, Underflow, Overflow, InvalidOperation):
                ctx.traps[trap] = True
            value = Decimal(number) * (Decimal(10) ** UNITS[unit]) if len(number) <= 60 else None
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or value < 0 or value != value.to_integral_value():
        raise InvalidInputError(
            f"not an amount of ether: {text[:80]!r}",
            hint="give whole wei (123), or gwei/ether with a unit: 50gwei, 0.01ether",
        )
    if value > MAX_WEI:
        raise InvalidInputError(f"{text[:80]} is above the largest price ({MAX_WEI} wei)")
    return int(value)


def ether(wei: int) -> str:
    """``wei`` written in ether, exactly."""
    from decimal import Decimal

    text = format(Decimal(wei) / Decimal(10**18), "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " ETH"
