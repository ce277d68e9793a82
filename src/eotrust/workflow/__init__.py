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
from typing import Any

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
