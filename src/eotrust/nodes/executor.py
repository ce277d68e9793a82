"""How a runner node executes an application: the seam the workflow engine plugs into.

An :class:`Executor` runs an application's workflow (by CID) on named input CIDs with
parameters, over the store it is given, and returns the run record's CID and the CIDs of the
workflow's outputs. :class:`WorkflowExecutor`, the default, is ``eotrust.workflow.run_workflow``
(cached, retried steps on the local or Dask executor, a run record per run). A failed run
raises :class:`eotrust.workflow.errors.RunFailed` carrying the failed step and its log's CID.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from eotrust.settings import Settings
from eotrust.store.base import Store

if TYPE_CHECKING:
    from eotrust.workflow.progress import StepEvent
    from eotrust.workflow.record import StepRecord


@dataclass(frozen=True)
class Execution:
    """What a finished run produced (CIDs in the store the executor was given)."""

    run_cid: str
    outputs: Mapping[str, str | list[str]]  # a CID, or a list of them for a scattered step's output
    steps: list[StepRecord] = field(default_factory=list)


ProgressHook = Callable[[str], None]


class Executor(Protocol):
    """Runs one application's workflow for one task."""

    def execute(
        self,
        workflow_cid: str,
        inputs: dict[str, str],
        params: dict[str, Any],
        *,
        store: Store,
        progress: ProgressHook | None = None,
    ) -> Execution: ...


class WorkflowExecutor:
    """The default executor: the workflow engine (``eotrust.workflow.run_workflow``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def execute(
        self,
        workflow_cid: str,
        inputs: dict[str, str],
        params: dict[str, Any],
        *,
        store: Store,
        progress: ProgressHook | None = None,
    ) -> Execution:
        from eotrust.store.base import read_head
        from eotrust.workflow import run_workflow
        from eotrust.workflow.cwl_package import looks_like_cwl

        if looks_like_cwl(read_head(store, workflow_cid, 20000)):  # the first bytes say which kind
            return self._execute_cwl(workflow_cid, inputs, params, store=store, progress=progress)
        result = run_workflow(
            self.settings,
            workflow_cid,
            inputs,
            params,
            store=store,
            progress=_step_printer(progress) if progress else None,
            cache=False,  # the node deletes a task's intermediates when it ends: nothing to reuse
        )
        return Execution(run_cid=result.run_cid, outputs=dict(result.outputs), steps=list(result.steps))

    def _execute_cwl(
        self,
        package_cid: str,
        inputs: dict[str, str],
        params: dict[str, Any],
        *,
        store: Store,
        progress: ProgressHook | None,
    ) -> Execution:
        """A CWL application package (a deployed OGC application): run by cwltool as a library."""
        import tempfile
        from pathlib import Path

        from eotrust.workflow.cwl_package import output_cids, run_cwl_package
        from eotrust.workflow.errors import RunFailed

        if progress:
            progress(f"CWL package {package_cid}: running")
        with tempfile.TemporaryDirectory(prefix="eotrust-cwl-out-") as tmp:
            result = run_cwl_package(  # no cache: the node deletes a task's intermediates when it ends
                self.settings, package_cid, dict(inputs), params, store=store, outdir=Path(tmp), cache=False
            )
            if result.exit_code != 0 or result.output is None or result.run_cid is None:
                from eotrust.workflow.cwl_runner import last_error

                step = result.name or "cwl"
                log_cid = store.put_bytes(result.log.encode())
                raise RunFailed(step, result.exit_code, log_cid, last_error(result.log), run_cid=result.run_cid)
            outputs = output_cids(result, store)
        if progress:
            progress("CWL package: " + ("reused from the cache" if result.cache_hit else "done"))
        return Execution(run_cid=result.run_cid, outputs=outputs)


def _step_printer(progress: ProgressHook) -> Callable[[StepEvent], None]:
    """Turn the engine's StepEvents into one readable line each (instances of a scattered step
    are reported when the whole step is done, so the log stays short)."""
    done: dict[str, int] = {}

    def hook(event: StepEvent) -> None:
        label = event.step if event.index is None else f"{event.step}[{event.index}]"
        if event.kind == "planned":
            progress(f"step {event.step}: planned ({event.total} instance{'s' if event.total != 1 else ''})")
        elif event.kind in ("done", "cached"):
            done[event.step] = done.get(event.step, 0) + 1
            if done[event.step] == event.total:
                record = event.record
                took = f" in {record.duration_s:.1f} s" if record is not None and event.kind == "done" else ""
                how = "reused from the cache" if event.kind == "cached" else f"done{took}"
                progress(f"step {event.step}: {how}")
        elif event.kind == "retry":
            progress(f"step {label}: retry {event.attempt} — {event.message or ''}".rstrip(" —"))
        elif event.kind == "failed":
            progress(f"step {label}: FAILED — {event.message or ''}".rstrip(" —"))

    return hook
