"""Where the server's read views come from: the catalogue (datasets, results, tasks) and the
model registry, turned into STAC entries. Kept apart from the routes so that the STAC API, the
party REST API and the web page read the same things the same way."""

from __future__ import annotations

from typing import Any

from eotrust.api.stac_items import StacEntry, dataset_entry, model_entry, result_entry, union_bbox


def dataset_records(state: Any) -> list[Any]:
    from eotrust.catalog.entries import Kind

    return state.catalog.list(Kind.DATASET)


def result_records(state: Any) -> list[Any]:
    return state.catalog.results()


def model_packages(state: Any) -> list[Any]:
    """Model packages of the registry (``eotrust.ml.registry``), newest last."""
    return state.models()


def task_footprint(state: Any, task_address: str, datasets: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """Union of the footprints of the datasets a task took as inputs (None if unknown)."""
    try:
        task = state.catalog.task(task_address)
    except Exception:  # noqa: BLE001 - a result without its task record simply has no footprint
        return None
    boxes = []
    for dataset_id in task.body.inputs.values():
        rec = datasets.get(dataset_id)
        if rec is not None and rec.body.bbox:
            boxes.append(tuple(rec.body.bbox))
    return union_bbox(boxes)


def stac_entries(state: Any, base: str, *, collections: list[str] | None = None) -> list[StacEntry]:
    """Every STAC entry of the server, optionally only those of some collections."""
    wanted = set(collections) if collections else {"datasets", "models", "results"}
    out: list[StacEntry] = []
    datasets: dict[str, Any] = {}
    if wanted & {"datasets", "results"}:
        datasets = {r.id: r for r in dataset_records(state)}
    if "datasets" in wanted:
        out += [dataset_entry(r, base) for r in datasets.values()]
    if "models" in wanted:
        out += [model_entry(m, base) for m in model_packages(state)]
    if "results" in wanted:
        out += [result_entry(r, base, task_footprint(state, r.body.task, datasets)) for r in result_records(state)]
    return out
