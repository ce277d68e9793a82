"""Parameter sweeps: a parameter given several values (``-p lr=0.01,0.001``) expands into the
cartesian product of runs, run in parallel on one executor, tabulated side by side. Outputs that
are small JSON objects of numbers (metrics) are read into the table."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eotrust.errors import EotrustError
from eotrust.limits import json_loads
from eotrust.settings import Settings
from eotrust.store.base import Store
from eotrust.workflow.engine import Value, resolve_params, run_workflow
from eotrust.workflow.errors import RunFailed
from eotrust.workflow.executors import open_executor
from eotrust.workflow.executors.base import Executor
from eotrust.workflow.progress import StepCallback
from eotrust.workflow.spec import WorkflowSpec, load_workflow

_METRIC_MAX_BYTES = 65536


@dataclass
class SweepRow:
    params: dict[str, Any]
    status: str
    run_cid: str | None
    outputs: dict[str, Value] = field(default_factory=dict)
    metrics: dict[str, float | int | str | bool] = field(default_factory=dict)
    error: str | None = None


@dataclass
class SweepResult:
    swept: list[str]  # the parameters that took several values
    rows: list[SweepRow]

    @property
    def ok(self) -> bool:
        return all(r.status == "succeeded" for r in self.rows)


def expand_sweep(spec: WorkflowSpec, params: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(names of swept parameters, one parameter dict per run). A value that is a list, or text
    with commas for a scalar-typed parameter, is swept; list/json parameters take JSON text."""
    choices: dict[str, list[Any]] = {}
    for name, value in params.items():
        pspec = spec.params.get(name)
        scalar = pspec is None or not (pspec.type.endswith("[]") or pspec.type == "json")
        if isinstance(value, str) and scalar and "," in value:
            choices[name] = [v.strip() for v in value.split(",")]
        elif isinstance(value, list) and scalar:
            choices[name] = list(value)
        else:
            choices[name] = [value]
    swept = [k for k, v in choices.items() if len(v) > 1]
    names = list(choices)
    combos = [dict(zip(names, combo)) for combo in itertools.product(*(choices[n] for n in names))]
    for combo in combos:
        resolve_params(spec, combo)  # every combination is checked before anything runs
    return swept, combos or [{}]


def _metrics(store: Store, outputs: dict[str, Value]) -> dict[str, float | int | str | bool]:
    out: dict[str, float | int | str | bool] = {}
    for name, cid in outputs.items():
        if not isinstance(cid, str):
            continue
        try:
            data = store.get_bytes(cid)
            if len(data) > _METRIC_MAX_BYTES:
                continue
            doc = json_loads(data)
        except (EotrustError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict):
            for k, v in doc.items():
                if isinstance(v, (int, float, str, bool)):
                    out[f"{name}.{k}"] = v
    return out


def run_sweep(
    settings: Settings,
    workflow: WorkflowSpec | str | Path,
    inputs: dict[str, Value] | None,
    params: dict[str, Any],
    *,
    store: Store | None = None,
    executor: Executor | None = None,
    force: set[str] | frozenset[str] = frozenset(),
    progress: StepCallback | None = None,
    max_parallel: int = 4,
    **kwargs: Any,
) -> SweepResult:
    """Run every combination; a failed run is a row with its error, not an exception."""
    if store is None:
        from eotrust.store import open_store

        store = open_store(settings)
    spec = workflow if isinstance(workflow, WorkflowSpec) else load_workflow(workflow, store=store)
    swept, combos = expand_sweep(spec, params)
    own = executor is None
    ex = executor or open_executor(settings, store)

    def one(combo: dict[str, Any]) -> SweepRow:
        try:
            res = run_workflow(
                settings, spec, inputs, combo, store=store, executor=ex, force=force, progress=progress, **kwargs
            )
            return SweepRow(
                params=resolve_params(spec, combo),
                status="succeeded",
                run_cid=res.run_cid,
                outputs=res.outputs,
                metrics=_metrics(store, res.outputs),
            )
        except RunFailed as exc:
            return SweepRow(params=resolve_params(spec, combo), status="failed", run_cid=exc.run_cid, error=exc.message)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(combos)))) as threads:
            rows = list(threads.map(one, combos))
    finally:
        if own:
            ex.close()
    return SweepResult(swept=swept, rows=rows)
