"""eotrust.workflow: services, workflows, cached and retried execution, run records.

Public API (imported lazily, so ``python -m eotrust.workflow.worker`` starts fast)::

    load_workflow(text_or_path_or_cid, *, store=None) -> WorkflowSpec
    run_workflow(settings, workflow, inputs, params, *, store=None, executor=None,
                 force=frozenset(), progress=None, retries=None, backoff_s=0.5,
                 timeout_s=None) -> RunResult
    publish_workflow(settings, spec, *, name=None, store=None) -> str (workflow CID)
    list_published(settings) / describe_published(settings, name)
    run_published(settings, name, inputs, params, ...) -> RunResult
    run_sweep(settings, workflow, inputs, params_with_lists, ...) -> SweepResult
    load_run(settings, ref, *, store=None) -> (run_cid, RunRecord)
    run_to_prov(record, run_cid) -> prov.model.ProvDocument
    RunFailed, WorkflowValidationError (both WorkflowError)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, eagerly, for type checkers: lazily imported they would be Any
    from eotrust.workflow.cwl import import_cwl as import_cwl
    from eotrust.workflow.engine import (
        RunResult as RunResult,
    )
    from eotrust.workflow.engine import (
        resolve_params as resolve_params,
    )
    from eotrust.workflow.engine import (
        run_workflow as run_workflow,
    )
    from eotrust.workflow.errors import (
        Problem as Problem,
    )
    from eotrust.workflow.errors import (
        RunFailed as RunFailed,
    )
    from eotrust.workflow.errors import (
        WorkflowValidationError as WorkflowValidationError,
    )
    from eotrust.workflow.executors.dask_cluster import DaskExecutor as DaskExecutor
    from eotrust.workflow.executors.local import LocalExecutor as LocalExecutor
    from eotrust.workflow.params import ParamSpec as ParamSpec
    from eotrust.workflow.progress import StepCallback as StepCallback
    from eotrust.workflow.progress import StepEvent as StepEvent
    from eotrust.workflow.prov import run_to_prov as run_to_prov
    from eotrust.workflow.record import RunRecord as RunRecord
    from eotrust.workflow.record import StepRecord as StepRecord
    from eotrust.workflow.registry import (
        PublishedWorkflow as PublishedWorkflow,
    )
    from eotrust.workflow.registry import (
        describe_published as describe_published,
    )
    from eotrust.workflow.registry import (
        list_published as list_published,
    )
    from eotrust.workflow.registry import (
        publish_workflow as publish_workflow,
    )
    from eotrust.workflow.registry import (
        run_published as run_published,
    )
    from eotrust.workflow.runs import list_runs as list_runs
    from eotrust.workflow.runs import load_run as load_run
    from eotrust.workflow.service import Resources as Resources
    from eotrust.workflow.service import ServiceSpec as ServiceSpec
    from eotrust.workflow.spec import (
        StepSpec as StepSpec,
    )
    from eotrust.workflow.spec import (
        WorkflowSpec as WorkflowSpec,
    )
    from eotrust.workflow.spec import (
        load_workflow as load_workflow,
    )
    from eotrust.workflow.spec import (
        store_workflow as store_workflow,
    )
    from eotrust.workflow.sweep import SweepResult as SweepResult
    from eotrust.workflow.sweep import expand_sweep as expand_sweep
    from eotrust.workflow.sweep import run_sweep as run_sweep


_EXPORTS = {
    "load_workflow": "eotrust.workflow.spec",
    "WorkflowSpec": "eotrust.workflow.spec",
    "StepSpec": "eotrust.workflow.spec",
    "store_workflow": "eotrust.workflow.spec",
    "ServiceSpec": "eotrust.workflow.service",
    "Resources": "eotrust.workflow.service",
    "ParamSpec": "eotrust.workflow.params",
    "import_cwl": "eotrust.workflow.cwl",
    "run_workflow": "eotrust.workflow.engine",
    "RunResult": "eotrust.workflow.engine",
    "resolve_params": "eotrust.workflow.engine",
    "StepEvent": "eotrust.workflow.progress",
    "StepCallback": "eotrust.workflow.progress",
    "RunRecord": "eotrust.workflow.record",
    "StepRecord": "eotrust.workflow.record",
    "RunFailed": "eotrust.workflow.errors",
    "WorkflowValidationError": "eotrust.workflow.errors",
    "Problem": "eotrust.workflow.errors",
    "publish_workflow": "eotrust.workflow.registry",
    "list_published": "eotrust.workflow.registry",
    "describe_published": "eotrust.workflow.registry",
    "run_published": "eotrust.workflow.registry",
    "PublishedWorkflow": "eotrust.workflow.registry",
    "run_sweep": "eotrust.workflow.sweep",
    "expand_sweep": "eotrust.workflow.sweep",
    "SweepResult": "eotrust.workflow.sweep",
    "load_run": "eotrust.workflow.runs",
    "list_runs": "eotrust.workflow.runs",
    "run_to_prov": "eotrust.workflow.prov",
    "LocalExecutor": "eotrust.workflow.executors.local",
    "DaskExecutor": "eotrust.workflow.executors.dask_cluster",
}

__all__ = sorted(_EXPORTS)  # noqa: PLE0605 - the lazily imported names above


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eotrust.workflow' has no attribute {name!r}")
    return getattr(import_module(module), name)
