"""The catalogue graph of one server, in a pyoxigraph store built from the catalogue."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyoxigraph as ox

from eotrust.catalog.entries import ApplicationInfo, Kind, Record, ResultInfo
from eotrust.catalog.service import Catalog
from eotrust.errors import EotrustError
from eotrust.ledger.task import TaskClient
from eotrust.linked.catalog_rdf import (
    Iris,
    application_triples,
    dataset_triples,
    model_triples,
    platform_triples,
    run_triples,
)

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain
    from eotrust.ml.registry import ModelEntry


def catalogue_store(
    catalog: Catalog,
    base: str,
    *,
    chain: Chain,
    applications: Iterable[Record[ApplicationInfo]] | None = None,
    models: Iterable[ModelEntry] = (),
) -> ox.Store:
    """A fresh in-memory store with the catalogue's datasets, ``applications`` (default: every
    application record; the API passes only those the public may see), platforms, the runs
    recorded for tasks (as the records of each task's submitter and platform owner on ``chain``
    describe them), and ``models``."""
    iris = Iris(base.rstrip("/"))
    triples: list[ox.Triple] = []
    for dataset in catalog.list(Kind.DATASET):
        triples += dataset_triples(iris, dataset)
    for application in catalog.list(Kind.APPLICATION) if applications is None else applications:
        triples += application_triples(iris, application)
    for platform in catalog.list(Kind.PLATFORM):
        triples += platform_triples(iris, platform)
    by_task: dict[str, list[Record[ResultInfo]]] = {}
    for res in catalog.results():
        by_task.setdefault(res.body.task.lower(), []).append(res)
    for address in dict.fromkeys(t.body.address for t in catalog.tasks()):
        # anyone may sign a record naming a task: its contract says whose records describe it
        try:
            snap = TaskClient(chain, address).status()
            task = catalog.task(address, submitter=snap.submitter)
        except EotrustError:
            continue  # no contract on this chain, or no (single) record of its submitter
        runner = snap.platform_owner.lower()
        results = [r for r in by_task.get(address.lower(), []) if r.owner.lower() == runner]
        triples += run_triples(iris, task, results)
    for model in models:
        triples += model_triples(iris, model)
    store = ox.Store()
    store.bulk_extend(ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in triples)
    return store
