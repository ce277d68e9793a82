"""The engine: runs a workflow's steps as soon as their inputs exist, in parallel as the
executor allows, skipping every step whose key is already cached, retrying failures with
exponential backoff, and writing a run record.

The entry point is :func:`run_workflow`."""

from __future__ import annotations

import heapq
import socket
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from eotrust.errors import EotrustError, NotFoundError, WorkflowError
from eotrust.settings import Settings
from eotrust.store.base import Store
from eotrust.workflow.cache import CacheEntry, StepCache, key_material, step_key
from eotrust.workflow.errors import RunFailed
from eotrust.workflow.executors.base import Executor
from eotrust.workflow.params import ParamSpec, check_value, parse_text
from eotrust.workflow.progress import StepCallback, StepEvent
from eotrust.workflow.record import RunRecord, StepRecord, save_record
from eotrust.workflow.sandbox.bwrap import require_bwrap
from eotrust.workflow.sandbox.policy import SandboxPolicy
from eotrust.workflow.spec import PARAM_REF, WorkflowSpec, load_workflow, store_workflow
from eotrust.workflow.step import StepJob, StepOutcome

#: Longest the engine blocks in one wait for running steps. Python runs a signal's handler only
#: in the main thread, and a process-wide SIGINT may be delivered to another thread (a step's
#: thread in ``select``): a wait with no timeout would then never return to raise
#: KeyboardInterrupt, and Ctrl-C would hang the run (tests/workflow/test_workflow_cli.py sends
#: SIGINT to another thread: without this bound the run never ends).
SIGNAL_CHECK_S = 0.5

Value = str | list[str]


@dataclass
class RunResult:
    """The result of a run: its record's CID, the workflow outputs (name -> CID, or a list of
    CIDs for a scattered step's output), each step instance's record, and the status."""

    run_cid: str
    outputs: dict[str, Value]
    steps: list[StepRecord]
    status: Literal["succeeded", "failed"]
    workflow_cid: str = ""
    record: RunRecord | None = field(default=None, repr=False)


def resolve_params(spec: WorkflowSpec, given: dict[str, Any]) -> dict[str, Any]:
    """Workflow parameters with defaults filled in and types checked; text values (from a
    command line) are parsed to the declared type."""
    unknown = sorted(set(given) - set(spec.params))
    if unknown:
        raise WorkflowError(
            f"unknown parameter {unknown[0]!r} for workflow {spec.name!r}",
            hint=f"its parameters are: {', '.join(spec.params) or 'none'}",
        )
    out: dict[str, Any] = {}
    for name, pspec in spec.params.items():
        if name in given:
            out[name] = _coerce(name, pspec, given[name])
        elif pspec.has_default:
            out[name] = pspec.default
        else:
            raise WorkflowError(
                f"missing parameter {name!r} ({pspec.type}) of workflow {spec.name!r}",
                hint=f"give it with -p {name}=VALUE",
            )
    return out


def _coerce(name: str, pspec: ParamSpec, value: Any) -> Any:
    try:
        if isinstance(value, str) and pspec.type != "str":
            return parse_text(pspec, value)
        return check_value(pspec, value)
    except ValueError as exc:
        raise WorkflowError(f"parameter {name!r}: {exc}", hint=f"it is a {pspec.type}") from None


def resolve_inputs(spec: WorkflowSpec, given: dict[str, Value], store: Store) -> dict[str, Value]:
    unknown = sorted(set(given) - set(spec.inputs))
    if unknown:
        raise WorkflowError(
            f"unknown input {unknown[0]!r} for workflow {spec.name!r}",
            hint=f"its inputs are: {', '.join(spec.inputs) or 'none'}",
        )
    out: dict[str, Value] = {}
    for name, port in spec.inputs.items():
        if name not in given:
            raise WorkflowError(
                f"missing input {name!r} ({port.type}) of workflow {spec.name!r}", hint=f"give it with -i {name}=CID"
            )
        value = given[name]
        if port.type == "file[]":
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
        elif not isinstance(value, str):
            raise WorkflowError(f"input {name!r} is a single file; got a list", hint="give one CID")
        for cid in [value] if isinstance(value, str) else value:
            if not store.has(cid):
                raise NotFoundError(
                    f"input {name!r}: {cid} is not in the store", hint="add it with `eotrust store put FILE`"
                )
        out[name] = value
    return out


def _step_params(spec: WorkflowSpec, step: str, wf_params: dict[str, Any]) -> dict[str, Any]:
    st = spec.steps[step]
    svc = spec.services[st.service]
    out: dict[str, Any] = {}
    for name, pspec in svc.params.items():
        if name in st.params:
            value = st.params[name]
            m = PARAM_REF.match(value) if isinstance(value, str) else None
            if m:
                value = wf_params[m.group(1)]
            out[name] = check_value(pspec, value)
        else:
            out[name] = pspec.default
    return out


class _StaleCache(Exception):
    """Outputs that the cache names are missing from the store: drop those entries and restart."""

    def __init__(self, materials: list[bytes]) -> None:
        self.materials = materials


class _Run:
    """The state of one run."""

    def __init__(
        self,
        settings: Settings,
        spec: WorkflowSpec,
        store: Store,
        executor: Executor,
        inputs: dict[str, Value],
        params: dict[str, Any],
        force: set[str],
        progress: StepCallback | None,
        retries: int,
        backoff_s: float,
        timeout_s: float | None,
        cache: bool = True,
    ) -> None:
        self.settings, self.spec, self.store, self.executor = settings, spec, store, executor
        self.inputs, self.params, self.force = inputs, params, force
        self.progress, self.retries, self.backoff_s = progress, retries, backoff_s
        self.timeout_s = timeout_s
        self.cache = StepCache(settings.path("workflow", "cache")) if cache else None
        self.materials: dict[tuple[str, int | None], bytes] = {}
        # outputs named by cache hits, not yet checked to be in the store -> the entry's material
        self.unverified: dict[str, bytes] = {}
        self.values: dict[tuple[str, str], Value] = {}
        self.done_steps: set[str] = set()
        self.remaining: dict[str, int] = {}  # step -> instances not finished yet
        self.total: dict[str, int] = {}
        self.instance_outputs: dict[str, dict[int | None, dict[str, str]]] = {}
        self.records: list[StepRecord] = []
        self.running: dict[Future[StepOutcome], StepJob] = {}
        self.delayed: list[tuple[float, int, StepJob]] = []
        self.seq = 0
        self.service_cids = {name: svc.cid() for name, svc in spec.services.items()}
        self.policy = SandboxPolicy.from_settings(settings)
        self.scope = uuid.uuid4().hex  # warm sandboxed workers are never shared with another run
        self.hidden = tuple(dict.fromkeys(str(p) for p in (settings.home_dir, settings.store_dir, Path.home())))

    def emit(self, event: StepEvent) -> None:
        if self.progress is not None:
            try:
                self.progress(event)
            except Exception:  # noqa: BLE001 - a broken progress display must not break a run
                pass

    def source_value(self, ref: str) -> Value:
        head, tail = ref.split(".", 1)
        if head == "inputs":
            return self.inputs[tail]
        return self.values[(head, tail)]

    def ready(self, step: str) -> bool:
        return all(up in self.done_steps for up in self.spec.steps[step].upstream())

    def start_step(self, step: str) -> None:
        st = self.spec.steps[step]
        svc = self.spec.services[st.service]
        wired: dict[str, Value] = {}
        for port, src in st.inputs.items():
            wired[port] = self.source_value(src) if isinstance(src, str) else [self.source_value(r) for r in src]  # type: ignore[misc]
        params = _step_params(self.spec, step, self.params)
        instances: list[tuple[int | None, dict[str, Value]]]
        if st.scatter:
            lengths = {port: len(wired[port]) for port in st.scatter}
            if len(set(lengths.values())) > 1:
                raise WorkflowError(
                    f"step {step!r}: scattered inputs have different lengths {lengths}",
                    hint="scatter over lists of equal length",
                )
            n = next(iter(lengths.values()))
            instances = [(i, {p: (v[i] if p in st.scatter else v) for p, v in wired.items()}) for i in range(n)]
        else:
            instances = [(None, wired)]
        self.remaining[step] = len(instances)
        self.total[step] = len(instances)
        self.instance_outputs[step] = {}
        self.emit(StepEvent("planned", step, total=len(instances)))
        timeout = st.timeout_s or svc.timeout_s or self.timeout_s or self.settings.step_timeout_s
        for index, ins in instances:
            material = key_material(self.service_cids[st.service], ins, params)
            self.materials[(step, index)] = material
            entry = None if step in self.force or self.cache is None else self.cache.get(material)
            key = entry.key if entry is not None else step_key(self.service_cids[st.service], ins, params)
            sandbox = (
                self.policy.spec_for(svc, float(timeout), self.scope, self.hidden) if self.policy.enabled else None
            )
            job = StepJob(
                step=step,
                index=index,
                service=svc,
                service_cid=self.service_cids[st.service],
                inputs=ins,
                params=params,
                key=key,
                timeout_s=float(timeout),
                sandbox=sandbox,
            )
            if entry is not None:
                for cid in entry.outputs.values():
                    self.unverified.setdefault(cid, material)
                rec = self._record(
                    job,
                    entry.outputs,
                    entry.started,
                    entry.ended,
                    entry.host,
                    entry.exit_status,
                    cache_hit=True,
                    attempts=0,
                    stdout=entry.stdout_cid,
                    stderr=entry.stderr_cid,
                    sandboxed=entry.sandboxed,
                    network=entry.network,
                )
                self.emit(StepEvent("cached", step, index, len(instances), record=rec))
                self.finish_instance(job, entry.outputs)
            else:
                self.verify([c for v in ins.values() for c in ([v] if isinstance(v, str) else v)])
                self.submit(job)
        if not instances:
            self.finish_step(step)

    def _record(
        self,
        job: StepJob,
        outputs: dict[str, str],
        started: float,
        ended: float,
        host: str,
        exit_status: int | None,
        *,
        cache_hit: bool,
        attempts: int,
        stdout: str | None,
        stderr: str | None,
        log: str | None = None,
        error: str | None = None,
        sandboxed: bool | None = None,
        network: bool | None = None,
    ) -> StepRecord:
        rec = StepRecord(
            step=job.step,
            index=job.index,
            service=self.spec.steps[job.step].service,
            service_cid=job.service_cid,
            key=job.key,
            inputs=job.inputs,
            outputs=outputs,
            params=job.params,
            started=started,
            ended=ended,
            host=host,
            exit_status=exit_status,
            cache_hit=cache_hit,
            attempts=attempts,
            stdout_cid=stdout,
            stderr_cid=stderr,
            log_cid=log,
            error=error,
            sandboxed=sandboxed,
            network=network,
        )
        self.records.append(rec)
        return rec

    def verify(self, cids: list[str]) -> None:
        """Check that outputs taken from the cache are still in the store (checked only when a
        step is about to read them, or when they are the run's results)."""
        stale = []
        for cid in cids:
            material = self.unverified.get(cid)
            if material is not None:
                if not self.store.has(cid):
                    stale.append(material)
                else:
                    del self.unverified[cid]
        if stale:
            raise _StaleCache(stale)

    def submit(self, job: StepJob) -> None:
        fut = self.executor.submit(job)
        self.running[fut] = job
        self.emit(StepEvent("submitted", job.step, job.index, self.total.get(job.step, 1), job.attempt))

    def finish_instance(self, job: StepJob, outputs: dict[str, str]) -> None:
        self.instance_outputs[job.step][job.index] = outputs
        self.remaining[job.step] -= 1
        if self.remaining[job.step] == 0:
            self.finish_step(job.step)

    def finish_step(self, step: str) -> None:
        st = self.spec.steps[step]
        svc = self.spec.services[st.service]
        outs = self.instance_outputs[step]
        for port in svc.outputs:
            if st.scatter:
                self.values[(step, port)] = [outs[i][port] for i in sorted(k for k in outs if k is not None)]
            else:
                self.values[(step, port)] = outs[None][port]
        self.done_steps.add(step)

    def handle(self, fut: Future[StepOutcome]) -> RunFailed | None:
        job = self.running.pop(fut)
        try:
            outcome = fut.result()
        except EotrustError as exc:
            outcome = StepOutcome(ok=False, error=exc.message, started=time.time(), ended=time.time())
        except Exception as exc:  # noqa: BLE001 - executor failure (e.g. a Dask task lost too often)
            outcome = StepOutcome(
                ok=False, error=f"{type(exc).__name__}: {exc}", started=time.time(), ended=time.time()
            )
        if outcome.ok:
            if self.cache is not None:
                self.cache.put(
                    self.materials[(job.step, job.index)],
                    CacheEntry(
                        key=job.key,
                        service_cid=job.service_cid,
                        outputs=outcome.outputs,
                        stdout_cid=outcome.stdout_cid,
                        stderr_cid=outcome.stderr_cid,
                        exit_status=outcome.exit_status,
                        started=outcome.started,
                        ended=outcome.ended,
                        host=outcome.host,
                        sandboxed=outcome.sandboxed,
                        network=outcome.network,
                    ),
                )
            rec = self._record(
                job,
                outcome.outputs,
                outcome.started,
                outcome.ended,
                outcome.host,
                outcome.exit_status,
                cache_hit=False,
                attempts=job.attempt,
                stdout=outcome.stdout_cid,
                stderr=outcome.stderr_cid,
                sandboxed=outcome.sandboxed,
                network=outcome.network,
            )
            self.emit(StepEvent("done", job.step, job.index, self.total.get(job.step, 1), job.attempt, record=rec))
            self.finish_instance(job, outcome.outputs)
            return None
        st = self.spec.steps[job.step]
        svc = self.spec.services[st.service]
        allowed = st.retries if st.retries is not None else (svc.retries if svc.retries is not None else self.retries)
        if job.attempt <= allowed:
            delay = self.backoff_s * (2 ** (job.attempt - 1))
            self.emit(
                StepEvent(
                    "retry",
                    job.step,
                    job.index,
                    self.total.get(job.step, 1),
                    job.attempt,
                    message=f"{outcome.error}; retrying in {delay:.2g} s",
                )
            )
            nxt = StepJob(**{**job.__dict__, "attempt": job.attempt + 1})
            self.seq += 1
            heapq.heappush(self.delayed, (time.monotonic() + delay, self.seq, nxt))
            return None
        rec = self._record(
            job,
            {},
            outcome.started,
            outcome.ended,
            outcome.host,
            outcome.exit_status,
            cache_hit=False,
            attempts=job.attempt,
            stdout=outcome.stdout_cid,
            stderr=outcome.stderr_cid,
            log=outcome.log_cid,
            error=outcome.error,
            sandboxed=outcome.sandboxed,
            network=outcome.network,
        )
        self.emit(
            StepEvent(
                "failed",
                job.step,
                job.index,
                self.total.get(job.step, 1),
                job.attempt,
                message=outcome.error,
                record=rec,
            )
        )
        return RunFailed(
            job.label, outcome.exit_status, outcome.log_cid, outcome.error or "failed", attempts=job.attempt
        )

    def loop(self) -> RunFailed | None:
        pending = list(self.spec.order)
        failure: RunFailed | None = None
        while True:
            if failure is None:
                for step in list(pending):
                    if self.ready(step):
                        pending.remove(step)
                        self.start_step(step)
                now = time.monotonic()
                while self.delayed and self.delayed[0][0] <= now:
                    _, _, job = heapq.heappop(self.delayed)
                    self.submit(job)
                if not pending and not self.running and not self.delayed:
                    return None
                if any(self.ready(s) for s in pending):
                    continue  # a cache hit made more steps ready
            elif not self.running:
                return failure
            timeout = None
            if self.delayed and failure is None:
                timeout = max(0.0, self.delayed[0][0] - time.monotonic())
            if not self.running:
                time.sleep(timeout or 0)
                continue
            timeout = SIGNAL_CHECK_S if timeout is None else min(timeout, SIGNAL_CHECK_S)
            done, _ = wait(list(self.running), timeout=timeout, return_when=FIRST_COMPLETED)
            for fut in done:
                result = self.handle(fut)
                if result is not None and failure is None:
                    failure = result
                    self.delayed.clear()  # no new work once the run has failed; let running steps finish


def run_workflow(
    settings: Settings,
    workflow: WorkflowSpec | str | Path,
    inputs: Mapping[str, Value] | None = None,
    params: dict[str, Any] | None = None,
    *,
    store: Store | None = None,
    executor: Executor | None = None,
    force: set[str] | frozenset[str] = frozenset(),
    progress: StepCallback | None = None,
    retries: int | None = None,
    backoff_s: float = 0.5,
    timeout_s: float | None = None,
    cache: bool = True,
) -> RunResult:
    """Run a workflow and return its result; raise RunFailed (carrying the failed step, its exit
    status, the CID of its log and the CID of the run record) if a step fails after its retries.

    ``workflow`` is a WorkflowSpec, a path to a YAML file, YAML text, or a stored workflow CID.
    ``inputs`` maps each declared workflow input to a CID (a list of CIDs for ``file[]``);
    ``params`` gives workflow parameters (typed values, or text to be parsed).
    ``executor`` defaults to the Dask cluster in ``settings.dask_scheduler`` if set, else local
    processes. ``force`` names steps to re-run even if cached. ``retries`` defaults to
    ``settings.step_retries``; the n-th retry waits ``backoff_s * 2**(n-1)`` seconds.
    ``cache=False`` neither reuses nor records cached steps (a platform node, which deletes a
    task's intermediate objects when the task ends).
    """
    if store is None:
        from eotrust.store import open_store

        store = open_store(settings)
    spec = workflow if isinstance(workflow, WorkflowSpec) else load_workflow(workflow, store=store)
    unknown = sorted(set(force) - set(spec.steps))
    if unknown:
        raise WorkflowError(f"--force names unknown step {unknown[0]!r}", hint=f"steps: {', '.join(spec.steps)}")
    if settings.sandbox:
        require_bwrap()  # never run other parties' code unsandboxed by accident
    wf_params = resolve_params(spec, dict(params or {}))
    wf_inputs = resolve_inputs(spec, dict(inputs or {}), store)
    wf_cid = store_workflow(store, spec)
    own_executor = executor is None
    if executor is None:
        from eotrust.workflow.executors import open_executor

        executor = open_executor(settings, store)
    started = time.time()
    try:
        for name, st in spec.steps.items():
            executor.check(name, spec.services[st.service].resources)
        for _attempt in range(len(spec.steps) + 2):
            run = _Run(
                settings,
                spec,
                store,
                executor,
                wf_inputs,
                wf_params,
                set(force),
                progress,
                settings.step_retries if retries is None else retries,
                backoff_s,
                timeout_s,
                cache,
            )
            try:
                failure = run.loop()
                if failure is None:
                    run.verify([c for ref in spec.outputs.values() for c in _flat(run.source_value(ref))])
                break
            except _StaleCache as stale:
                # the store lost outputs the cache names: forget those entries and run again
                wait(list(run.running))
                for material in stale.materials:
                    if run.cache is not None:
                        run.cache.drop(material)
            except BaseException:
                # an engine error (or Ctrl-C): cancel what has not started, stop what runs
                for fut in list(run.running):
                    fut.cancel()
                executor.abort()
                raise
            finally:
                if run.cache is not None:
                    run.cache.close()
    finally:
        if own_executor:
            executor.close()
        else:
            executor.drain()  # temporary files of this run are gone when it returns
    outputs: dict[str, Value] = {}
    if failure is None:
        for name, ref in spec.outputs.items():
            outputs[name] = run.source_value(ref)
    order = {s: i for i, s in enumerate(spec.order)}
    steps = sorted(run.records, key=lambda r: (order[r.step], -1 if r.index is None else r.index))
    record = RunRecord(
        workflow=spec.name,
        workflow_cid=wf_cid,
        status="failed" if failure else "succeeded",
        error=str(failure.message) if failure else None,
        failed_step=failure.step if failure else None,
        inputs=wf_inputs,
        params=wf_params,
        outputs=outputs,
        started=started,
        ended=time.time(),
        host=socket.gethostname(),
        executor=executor.name,
        steps=steps,
    )
    run_cid = save_record(store, settings.path("workflow", "runs"), record)
    if failure is not None:
        failure.run_cid = run_cid
        raise failure
    return RunResult(
        run_cid=run_cid, outputs=outputs, steps=steps, status="succeeded", workflow_cid=wf_cid, record=record
    )


def _flat(value: Value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
