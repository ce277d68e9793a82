"""The rates a task is charged, read from the signed catalogue records it names.

The platform's record carries its prices per CPU-hour, GPU-hour, GB-hour of memory, GB stored
and a flat fee; the application's record its owner's price per run; each dataset's record its
owner's price per use. A record without prices charges nothing. Every price is in wei.
"""

from __future__ import annotations

from dataclasses import dataclass

from eotrust.catalog.entries import ApplicationInfo, DatasetInfo, Kind, PlatformInfo, PlatformPrices, Record, TaskInfo
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
    application: Record
    platform: Record
    datasets: dict[str, Record]  # workflow input name -> dataset record
    compute: PlatformPrices
    fixed: tuple[Owed, ...]

    @property
    def platform_owner(self) -> str:
        return self.platform.owner


def current_terms(catalog: Catalog, record: Record) -> Record:
    """The owner's current terms for what ``record`` describes: its newest record of the same
    content (a dataset: the same file CID; an application: the same workflow CID). An owner
    changes its prices or policy by signing a new record; a task that names an older one is
    held to the new terms, so no one escapes a policy by naming a record from before it."""
    if record.kind is Kind.DATASET:
        key = "cid"
    elif record.kind is Kind.APPLICATION:
        key = "workflow_cid"
    else:
        return record
    same = [r for r in catalog.list(record.kind, owner=record.owner)
            if getattr(r.body, key) == getattr(record.body, key)]
    # newest first; records signed in the same second: the one with terms, then by id (a fixed order)
    return max(same + [record], key=lambda r: (r.created, _has_terms(r), r.id))


def _has_terms(record: Record) -> bool:
    return any(getattr(record.body, name, None) is not None for name in ("price", "policy"))


def task_prices(catalog: Catalog, task: str) -> TaskPrices:
    """The rates of the task at contract address ``task``, from its submitter's signed record and
    the signed records it names (each checked as it is read)."""
    record = catalog.task(task)
    info: TaskInfo = record.body  # type: ignore[assignment]
    application = catalog.get(info.application_id, Kind.APPLICATION)
    platform = catalog.get(info.platform_id, Kind.PLATFORM)
    app_info: ApplicationInfo = current_terms(catalog, application).body  # type: ignore[assignment]
    plat_info: PlatformInfo = platform.body  # type: ignore[assignment]
    datasets = {name: catalog.get(dataset_id, Kind.DATASET) for name, dataset_id in sorted(info.inputs.items())}
    fixed = [Owed("application", application.id, application.owner, app_info.price.per_use if app_info.price else 0)]
    for name, dataset in datasets.items():
        ds: DatasetInfo = current_terms(catalog, dataset).body  # type: ignore[assignment]
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
