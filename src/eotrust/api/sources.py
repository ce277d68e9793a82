"""Where the server's read views come from: the catalogue (datasets, results, tasks) and the
model registry, turned into STAC entries. Kept apart from the routes so that the STAC API, the
party REST API and the web page read the same things the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eotrust.api.stac_items import BBox, StacEntry, dataset_entry, model_entry, result_entry, union_bbox
from eotrust.catalog.listing import Listing
from eotrust.catalog.query import Filter

if TYPE_CHECKING:
    from eotrust.api.state import ServerState
    from eotrust.catalog.entries import DatasetInfo, Record, ResultInfo
    from eotrust.ml.registry import ModelEntry


def dataset_records(state: ServerState) -> list[Record[DatasetInfo]]:
    from eotrust.catalog.entries import Kind

    return list(state.catalog.list(Kind.DATASET))


def result_records(state: ServerState) -> list[Record[ResultInfo]]:
    return list(state.catalog.results())


def model_packages(state: ServerState) -> list[ModelEntry]:
    """Model packages of the registry (``eotrust.ml.registry``), newest last."""
    return list(state.models())


def result_context(
    state: ServerState, task_address: str, datasets: dict[str, Record[DatasetInfo] | None]
) -> tuple[str | None, BBox | None]:
    """The task's platform owner (whose result records alone are its results; None without a
    contract) and the union of the footprints of the datasets the task took as inputs, as the
    record of the contract's submitter names them (anyone may sign a record naming the task;
    None if unknown). ``datasets`` caches the dataset records read so far (id -> record or None)."""
    from eotrust.catalog.entries import Kind

    try:
        snap = state.task(task_address).status()
    except Exception:  # noqa: BLE001 - no contract: no results of a task to show
        return None, None
    try:
        task = state.catalog.task(task_address, submitter=snap.submitter, chain=state.chain.key)
    except Exception:  # noqa: BLE001 - a result without its task record simply has no footprint
        return snap.platform_owner, None
    missing = [i for i in task.body.inputs.values() if i not in datasets]
    if missing:
        found = {r.id: r for r in state.catalog.select(Kind.DATASET, Filter(ids=missing))}
        datasets.update({i: found.get(i) for i in missing})
    boxes: list[BBox] = []
    for dataset_id in task.body.inputs.values():
        rec = datasets.get(dataset_id)
        if rec is not None and rec.body.bbox:
            boxes.append(rec.body.bbox)
    return snap.platform_owner, union_bbox(boxes)


def stac_entries(
    state: ServerState, base: str, *, collections: list[str] | None = None, where: Filter | None = None
) -> Listing[StacEntry]:
    """The STAC entries of the server in ``collections`` (all when None) that match ``where``.

    Datasets and results are filtered by the catalogue's database (ids, footprint, time; see
    :mod:`eotrust.catalog.query`): only the rows returned are read and checked. A result's
    footprint is the union of its task's input datasets', so the footprint test of results is
    made here on the few results the time and id filters left. Model packages have no footprint:
    a spatial search reads none of them. A dataset or result row that fails its check is left
    out and named in the listing's ``skipped``."""
    from eotrust.catalog.entries import Kind

    where = where or Filter()
    wanted = set(collections) if collections else {"datasets", "models", "results"}
    out: Listing[StacEntry] = Listing()
    if "datasets" in wanted:
        datasets_found = state.catalog.select(Kind.DATASET, where)
        out.skipped += datasets_found.skipped
        out += [dataset_entry(r, base) for r in datasets_found]
    if "models" in wanted and where.bbox is None:
        for model in model_packages(state):
            entry = model_entry(model, base)
            if (where.ids is None or entry.id in where.ids) and _in_time(entry, where):
                out.append(entry)
    if "results" in wanted:
        timed = Filter(ids=where.ids, start=where.start, end=where.end)
        datasets: dict[str, Any] = {}
        tasks: dict[str, tuple[str | None, BBox | None]] = {}  # one contract read a task
        results_found = state.catalog.select(Kind.RESULT, timed)
        out.skipped += results_found.skipped
        for record in results_found:
            task = record.body.task
            if task not in tasks:
                tasks[task] = result_context(state, task, datasets)
            platform_owner, footprint = tasks[task]
            if platform_owner is None or record.owner.lower() != platform_owner.lower():
                continue  # anyone may sign a result record naming a task: only its platform's are its results
            entry = result_entry(record, base, footprint)
            if where.bbox is None or (entry.bbox is not None and bbox_overlaps(entry.bbox, where.bbox)):
                out.append(entry)
    return out


def dataset_page(
    state: ServerState, base: str, where: Filter, *, offset: int, limit: int
) -> tuple[Listing[StacEntry], int]:
    """One page of the datasets matching ``where`` (in :func:`stac_entries`' order) and how many
    rows match in all: the database filters, counts and pages, so only the page's rows are read
    and checked, however large the catalogue. A row of the page that fails its check is left out
    (named in the listing's ``skipped``), so a page may hold fewer than ``limit``; the count is
    of the rows, before any is checked."""
    from eotrust.catalog.entries import Kind

    page = state.catalog.select(Kind.DATASET, where, limit=limit, offset=offset)
    entries = Listing([dataset_entry(r, base) for r in page], page.skipped)
    return entries, state.catalog.count(Kind.DATASET, where)


def bbox_overlaps(box: BBox, query: BBox) -> bool:
    """Whether ``box`` meets ``query`` (west > east in ``query`` crosses the antimeridian)."""
    w, s, e, n = box
    qw, qs, qe, qn = query
    lon_ok = (e >= qw or w <= qe) if qw > qe else (e >= qw and w <= qe)
    return lon_ok and n >= qs and s <= qn


def _in_time(entry: StacEntry, where: Filter) -> bool:
    if not where.timed:
        return True
    start, end = entry.start or entry.end, entry.end or entry.start
    if start is None or end is None:
        return False
    return (where.end is None or start <= where.end) and (where.start is None or end >= where.start)
