"""How long a run takes and what it holds: from the workflow's declared resources and the
measured durations of past runs of the same workflow.

Each step holds what its service declares (cores, GPUs, memory) for as long as it runs. Its
time is the longest measured in past runs of the same workflow (by CID), times
:data:`MARGIN`; a step never measured is given :data:`UNMEASURED_STEP_S`. The run's duration is
the longest measured run times the margin (else the sum of its steps). Storage is the most a
past task of the workflow stored (its result records), times the margin; with no past task,
the size of the task's inputs. The quote is the most the submitter pays, so it errs high: what
is charged is what the run record measures (:mod:`eotrust.market.usage`), never above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from eotrust.catalog.entries import ApplicationInfo, Kind, Record, TaskInfo
from eotrust.catalog.service import Catalog
from eotrust.errors import EotrustError
from eotrust.ledger.chain import Chain
from eotrust.ledger.task import TaskClient
from eotrust.store.base import Store
from eotrust.workflow.record import RunRecord

MARGIN = Decimal("1.5")
UNMEASURED_STEP_S = Decimal(600)
MAX_PAST_RUNS = 50
GB = Decimal(10**9)
HOUR = Decimal(3600)
PLACES = Decimal("0.000001")


def up(value: Decimal) -> Decimal:
    """``value`` rounded up to six decimal places (estimates never round down)."""
    return value.quantize(PLACES, rounding=ROUND_CEILING)


@dataclass(frozen=True)
class Declared:
    """What one step's service declares it holds while it runs."""

    cpus: Decimal = Decimal(1)
    gpus: int = 0
    memory_mb: int = 0


@dataclass(frozen=True)
class StepEstimate:
    step: str
    seconds: Decimal
    declared: Declared
    measured_runs: int


@dataclass(frozen=True)
class Estimate:
    """Resources of one run: step-seconds held, wall duration, storage, and how they were found."""

    steps: tuple[StepEstimate, ...]
    duration_s: Decimal
    storage_bytes: int
    past_runs: int
    past_tasks: int
    basis: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def cpu_hours(self) -> Decimal:
        return up(sum((s.seconds * s.declared.cpus for s in self.steps), Decimal(0)) / HOUR)

    @property
    def gpu_hours(self) -> Decimal:
        return up(sum((s.seconds * s.declared.gpus for s in self.steps), Decimal(0)) / HOUR)

    @property
    def memory_gb_hours(self) -> Decimal:
        return up(sum((s.seconds * s.declared.memory_mb for s in self.steps), Decimal(0)) / Decimal(1024) / HOUR)

    @property
    def duration_hours(self) -> Decimal:
        return up(self.duration_s / HOUR)

    @property
    def storage_gb(self) -> Decimal:
        return up(Decimal(self.storage_bytes) / GB)


def declared_resources(store: Store, workflow_cid: str) -> tuple[dict[str, Declared], str | None]:
    """Step name -> declared resources of the workflow at ``workflow_cid``; and a note when it
    declares none (a CWL package: each step is taken to hold one core)."""
    from eotrust.workflow.spec import load_workflow_cid

    try:
        spec = load_workflow_cid(workflow_cid, store)
    except EotrustError as exc:
        return (
            {},
            f"workflow {workflow_cid} declares no resources eotrust reads ({exc.message.splitlines()[0]}); one core per step assumed",
        )
    out: dict[str, Declared] = {}
    for name in spec.order or list(spec.steps):
        res = spec.services[spec.steps[name].service].resources
        out[name] = Declared(cpus=Decimal(str(res.cpus)), gpus=res.gpus, memory_mb=res.memory_mb)
    return out, None


@dataclass(frozen=True)
class History:
    """Past succeeded runs of one workflow and what past tasks of it stored."""

    runs: tuple[RunRecord, ...]
    stored_bytes: tuple[int, ...]  # per past task: the bytes of its results


def history(
    catalog: Catalog, store: Store, workflow_cid: str, *, local_runs: tuple[str, ...] = (), chain: Chain | None = None
) -> History:
    """The succeeded runs of ``workflow_cid`` this catalogue and store know of: the run records
    of past tasks (their result records name them) and ``local_runs`` (run CIDs of this home's
    index), newest first, at most :data:`MAX_PAST_RUNS`. Each is read from the store by CID (the
    store re-hashes it); one not in the store is passed over. With ``chain``, a past task counts
    only where its contract exists and its record is its submitter's, with the result records of
    its platform owner (anyone may sign records of a made-up task on a platform of its own)."""
    apps: dict[str, Record[ApplicationInfo] | None] = {}
    run_cids: list[str] = []
    stored: list[int] = []
    for task in reversed(catalog.tasks()):
        app_id = task.body.application_id
        if app_id not in apps:
            try:
                apps[app_id] = catalog.get(app_id, Kind.APPLICATION)
            except EotrustError:
                apps[app_id] = None
        app = apps[app_id]
        if app is None or app.body.workflow_cid != workflow_cid:
            continue
        if chain is None:
            platform_owner = _platform_owner(catalog, task)
        else:
            try:
                snap = TaskClient(chain, task.body.address).status()
            except EotrustError:
                continue  # no such contract: a made-up task
            if task.owner.lower() != snap.submitter.lower():
                continue
            platform_owner = snap.platform_owner.lower()
        results = [r for r in catalog.results(task=task.body.address) if r.owner.lower() == platform_owner]
        if not results:
            continue
        stored.append(sum(r.body.size for r in results))
        run_cids.extend(sorted({r.body.run_cid for r in results}))
    run_cids.extend(local_runs)
    runs: list[RunRecord] = []
    seen: set[str] = set()
    for cid in run_cids:
        if cid in seen or len(runs) >= MAX_PAST_RUNS:
            continue
        seen.add(cid)
        run = read_run(store, cid)
        if run is None:
            continue
        if run.status == "succeeded" and run.workflow_cid == workflow_cid:
            runs.append(run)
    return History(runs=tuple(runs), stored_bytes=tuple(stored[:MAX_PAST_RUNS]))


MAX_RUN_RECORD_BYTES = 64 * 1024 * 1024


def read_run(store: Store, cid: str) -> RunRecord | None:
    """The run record at ``cid`` (read through the store, which verifies each block, and never
    more than :data:`MAX_RUN_RECORD_BYTES`); None when it is not here or is not one."""
    try:
        with store.open(cid) as stream:
            data = stream.read(MAX_RUN_RECORD_BYTES + 1)
        if len(data) > MAX_RUN_RECORD_BYTES:
            return None
        return RunRecord.model_validate_json(data)
    except (EotrustError, ValueError):
        return None


def _platform_owner(catalog: Catalog, task: Record[TaskInfo]) -> str:
    try:
        return catalog.get(task.body.platform_id, Kind.PLATFORM).owner.lower()
    except EotrustError:
        return ""


def estimate(declared: dict[str, Declared], past: History, *, inputs_bytes: int, note: str | None = None) -> Estimate:
    """The estimate of one run from the declared resources and the history."""
    measured: dict[str, list[Decimal]] = {}
    for run in past.runs:
        per_step: dict[str, Decimal] = {}
        for step in run.steps:
            per_step[step.step] = per_step.get(step.step, Decimal(0)) + Decimal(str(step.duration_s))
        for name, seconds in per_step.items():
            measured.setdefault(name, []).append(seconds)
    names = list(declared) + sorted(set(measured) - set(declared))
    if not names:
        names = ["run"]
    steps = []
    for name in names:
        seen = measured.get(name, [])
        seconds = up(max(seen) * MARGIN) if seen else UNMEASURED_STEP_S
        steps.append(StepEstimate(name, seconds, declared.get(name, Declared()), len(seen)))
    walls = [Decimal(str(max(0.0, r.ended - r.started))) for r in past.runs]
    duration = up(max(walls) * MARGIN) if walls else sum((s.seconds for s in steps), Decimal(0))
    storage = math.ceil(max(past.stored_bytes) * MARGIN) if past.stored_bytes else inputs_bytes
    if past.runs:
        basis = (
            f"declared resources; the longest of {len(past.runs)} past run(s) of this workflow × {MARGIN}"
            f"{'' if all(s.measured_runs for s in steps) else f', {UNMEASURED_STEP_S} s for a step never measured'}"
        )
    else:
        basis = f"declared resources; no past run of this workflow: {UNMEASURED_STEP_S} s per step"
    basis += (
        f"; storage: the most a past task stored × {MARGIN}"
        if past.stored_bytes
        else "; storage: the size of the inputs"
    )
    return Estimate(
        steps=tuple(steps),
        duration_s=duration,
        storage_bytes=storage,
        past_runs=len(past.runs),
        past_tasks=len(past.stored_bytes),
        basis=basis,
        notes=(note,) if note else (),
    )
