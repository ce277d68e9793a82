"""``eotrust verify``: anyone can check a result afterwards.

From a result CID or a task address, walk back through everything that made it: the contract
(its state, its parties, their acknowledgments), the signed catalogue records (task,
application, platform, datasets, results), the stored objects (encrypted inputs, workflow,
results, run record — each re-hashed block by block), and the run record (which workflow ran
on which inputs and made which outputs). Each check is a :class:`Check`.

First of all the contract must be a task of the configured factory (in its registry, and its
code the factory's EIP-1167 clone of the Task implementation): a look-alike contract that
answers with another task's snapshot is refused before anything it says is believed.

The verdict (:attr:`Verdict.name`) is VERIFIED only when every check ran and held; NOT
VERIFIED when any fails; INCOMPLETE when none fails but some could not run here (an object
not in this store, a key not held) — skipped checks are never counted as passed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from eotrust.backends import Backends
from eotrust.catalog.entries import ApplicationInfo, ResultInfo
from eotrust.errors import EotrustError, IntegrityError, NotFoundError
from eotrust.ledger import Chain, RequestStatus, TaskFactoryClient, TaskState
from eotrust.nodes.runner import RUN_RECORD
from eotrust.store.base import Store, read_at_most
from eotrust.verify.lineage import Read, lineage
from eotrust.workflow.record import RunRecord

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class Check:
    """One thing checked: ``ok`` is True (holds), False (does not hold) or None (skipped)."""

    name: str
    ok: bool | None
    detail: str = ""


@dataclass
class Verdict:
    target: str
    task: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]

    @property
    def skipped(self) -> list[Check]:
        return [c for c in self.checks if c.ok is None]

    @property
    def ok(self) -> bool:
        """VERIFIED: every check ran and held."""
        return not self.failures and not self.skipped and any(c.ok for c in self.checks)

    @property
    def name(self) -> str:
        if self.failures or not any(c.ok for c in self.checks):
            return "NOT VERIFIED"
        return "INCOMPLETE" if self.skipped else "VERIFIED"

    def add(self, name: str, ok: bool | None, detail: str = "") -> bool | None:
        self.checks.append(Check(name, ok, detail))
        return ok


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").lower() == (b or "").lower()


def _read(verdict: Verdict, name: str, read: Read[Any]) -> bool:
    """Add the check that a catalogue record was read (and so checked: fields, id, signature)."""
    if read.record is None:
        verdict.add(name, False, read.error or "not read")
        return False
    verdict.add(name, True, f"{read.record.id} signed by {read.record.owner}")
    return True


def _stored(verdict: Verdict, store: Store, name: str, cid: str) -> bool | None:
    """Re-hash a stored object block by block; skipped when this store does not have it."""
    try:
        if not store.has(cid):
            return verdict.add(name, None, f"{cid} is not in this store")
        store.verify(cid)
    except EotrustError as exc:
        return verdict.add(name, False, exc.message)
    return verdict.add(name, True, f"{cid} re-hashes to its CID")


def find_task(backends: Backends, target: str) -> str:
    """The task address for a task address or a result CID."""
    from eotrust.cid import validate_cid

    if ADDRESS.match(target):
        return target
    cid = validate_cid(target)
    try:
        records = [r.body for r in backends.catalog.results(cid=cid)]
    except EotrustError:
        records = []
    if records:
        return records[0].task
    for address in backends.factory.all_tasks():
        if cid in backends.task(address).status().result_cids:
            return address
    raise NotFoundError(f"no task on this chain recorded the result {cid}", hint="check the CID and EOTRUST_CHAIN_URL")


def _is_federated(chain: Chain, target: str) -> bool:
    """Whether ``target`` is a task of this chain's federated factory."""
    if not ADDRESS.match(target):
        return False
    from eotrust.ledger.federated import FederatedFactoryClient

    return FederatedFactoryClient(chain).is_task(target)


def verify(backends: Backends, target: str, *, identity: str | None = None) -> Verdict:
    """Check a result (by CID) or a whole task (by contract address). See the module doc."""
    store, chain = backends.store, backends.chain
    verdict = Verdict(target=target)
    if _is_federated(chain, target):
        from eotrust.federated.verify import verify_federated

        verdict.task = target
        verify_federated(chain, store, target, verdict.add, identity=identity)
        return verdict
    address = find_task(backends, target)
    verdict.task = address
    origin = TaskFactoryClient(chain).origin(address)
    verdict.add("task created by the configured factory", origin.in_registry, origin.detail)
    verdict.add("task code is the factory's clone of its implementation", origin.is_clone, origin.detail)
    if not origin.genuine:
        return verdict  # nothing this contract says can be believed
    found = lineage(backends, address)
    snap = found.snapshot
    state = snap.state
    recorded = snap.result_cids
    verdict.add("contract", True, f"task {address} is {state.value}; submitter {snap.submitter}")
    verdict.add("task finished", state is TaskState.Finished, f"state {state.value}")
    if not ADDRESS.match(target):
        verdict.add("result recorded on the contract", target in recorded, target)

    # -- the submitter's record of the task ---------------------------------------------
    task_rec, info = found.task.record, found.task.body
    if not _read(verdict, "task record", found.task) or task_rec is None or info is None:
        return verdict
    verdict.add("task record signed by the submitter", _same(task_rec.owner, snap.submitter), task_rec.owner)
    verdict.add(
        "results key on the contract is the task record's",
        snap.results_recipient == info.results_recipient,
        info.results_recipient,
    )

    # -- the application --------------------------------------------------------------------
    _read(verdict, "application record", found.application)
    verdict.add(
        "contract names the task record's application",
        snap.application_record == info.application_id,
        info.application_id,
    )
    app_rec, app = found.application.record, found.application.body
    if app_rec is not None and app is not None:
        verdict.add("application owner is the contract's", _same(app_rec.owner, snap.application_owner), app_rec.owner)
        _stored(verdict, store, "workflow stored", app.workflow_cid)
    verdict.add(
        "application acknowledged by its owner",
        snap.application_status is RequestStatus.Acknowledged,
        snap.application_owner,
    )

    # -- the platform ---------------------------------------------------------------------------
    _read(verdict, "platform record", found.platform)
    verdict.add("contract names the task record's platform", snap.platform_record == info.platform_id, info.platform_id)
    verdict.add(
        "platform acknowledged by its owner", snap.platform_status is RequestStatus.Acknowledged, snap.platform_owner
    )
    plat_rec, plat = found.platform.record, found.platform.body
    if plat_rec is not None and plat is not None:
        verdict.add("platform owner is the contract's", _same(plat_rec.owner, snap.platform_owner), plat_rec.owner)
        verdict.add(
            "platform's key on the contract is its registered key",
            snap.platform_key == plat.age_recipient,
            plat.age_recipient,
        )

    # -- the inputs -----------------------------------------------------------------------------
    inputs: dict[str, str] = {}
    for item in found.inputs:
        name = item.name
        verdict.add(f"input {name!r}: requested dataset is the task record's", item.named_by_task, item.dataset_id)
        ds_rec, ds = item.dataset.record, item.dataset.body
        if _read(verdict, f"input {name!r}: dataset record", item.dataset) and ds_rec is not None and ds is not None:
            verdict.add(
                f"input {name!r}: dataset owner is the request's", _same(ds_rec.owner, item.owner), ds_rec.owner
            )
            inputs[name] = ds.cid
            if app_rec is not None and plat_rec is not None:  # its owner's data-use policy (issue 15)
                from eotrust.market.policy import check_use

                for check in check_use(ds_rec, app_rec, plat_rec, backends.catalog):
                    verdict.add(f"input {name!r}: {check.name.split(': ', 1)[-1]}", check.ok, check.detail)
        acked = item.status is RequestStatus.Acknowledged
        verdict.add(f"input {name!r}: acknowledged by its owner", acked, item.owner)
        if acked and item.stored_cid:
            _stored(verdict, store, f"input {name!r}: encrypted input stored", item.stored_cid)

    # -- the results and the run record -----------------------------------------------------------
    result_recs = found.results
    if found.results_error is None:
        verdict.add("result records", True, f"{len(result_recs)} signed by the platform owner")
    else:
        verdict.add("result records", False, found.results_error)
    for cid in recorded:
        result = result_recs.get(cid)
        name = result.name if result else cid
        verdict.add(f"result {name!r}: recorded by the platform in the catalogue", result is not None, cid)
        _stored(verdict, store, f"result {name!r}: stored", cid)
    run_cid = found.run_cid
    if state is TaskState.Finished:
        verdict.add("run record recorded on the contract", run_cid is not None, run_cid or "missing")
    if run_cid is not None and app is not None:
        _check_run(verdict, store, run_cid, app, inputs, result_recs)

    if identity:
        _check_plaintexts(verdict, store, identity, recorded, result_recs)
    return verdict


def _check_run(
    verdict: Verdict,
    store: Store,
    run_cid: str,
    app: ApplicationInfo,
    inputs: dict[str, str],
    results: dict[str, ResultInfo],
) -> None:
    from eotrust.workflow.record import read_run_record

    if not store.has(run_cid):
        verdict.add("run record readable", None, f"{run_cid} is not in this store")
        return
    try:
        run = read_run_record(store, run_cid)
    except EotrustError as exc:
        verdict.add("run record readable", False, exc.message)
        return
    except ValueError as exc:
        verdict.add("run record readable", False, f"{run_cid} is not a run record: {str(exc).splitlines()[0]}")
        return
    verdict.add("run record readable", True, f"{run.workflow} ran on {run.host} with the {run.executor} executor")
    verdict.add("run succeeded", run.status == "succeeded", run.status)
    verdict.add(
        "run used the application's workflow",
        run.workflow_cid == app.workflow_cid,
        f"run {run.workflow_cid}, application {app.workflow_cid}",
    )
    if run.status == "succeeded" and run.workflow_cid == app.workflow_cid:
        _check_steps(verdict, store, run)
    for step in run.steps:
        if step.sandboxed is None:
            detail = "not recorded (a record made before the sandbox, or an old cache entry)"
        elif step.sandboxed:
            detail = "bubblewrap sandbox, " + (
                "network allowed by the platform's policy" if step.network else "no network"
            )
        else:
            detail = "UNSANDBOXED (the platform ran it with --no-sandbox)"
        verdict.add(f"step {step.label}: ran sandboxed", step.sandboxed, detail)
    for name, cid in sorted(inputs.items()):
        used = run.inputs.get(name)
        verdict.add(f"run consumed input {name!r} as registered", used == cid, f"run {used}, dataset {cid}")
    for body in results.values():
        if body.name == RUN_RECORD:
            continue
        made = run.outputs.get(body.name)
        verdict.add(
            f"result {body.name!r}: is the run's output",
            made == body.plaintext_cid,
            f"run {made}, result {body.plaintext_cid}",
        )


def _check_steps(verdict: Verdict, store: Store, run: RunRecord) -> None:
    """The run's steps are its workflow's, each by the service the workflow names (by CID):
    a platform's record of other steps, or of other code, is not a run of the application.
    A CWL package's steps are cwltool's own and are not compared."""
    from eotrust.workflow.cwl_package import looks_like_cwl
    from eotrust.workflow.spec import load_workflow_cid

    name = "run's steps are the workflow's"
    if not store.has(run.workflow_cid):
        verdict.add(name, None, f"workflow {run.workflow_cid} is not in this store")
        return
    try:
        if looks_like_cwl(read_at_most(store, run.workflow_cid, 4 << 20, "workflow")[:20000]):
            return
        spec = load_workflow_cid(run.workflow_cid, store)
    except EotrustError as exc:
        verdict.add(name, False, exc.message)
        return
    wanted = {step.name: spec.services[step.service].cid() for step in spec.steps.values()}
    ran = {step.step for step in run.steps}
    problems = []
    if missing := sorted(n for n in set(wanted) - ran if not spec.steps[n].scatter):  # a scatter may run none
        problems.append(f"the record lacks {', '.join(missing)}")
    if extra := sorted(ran - set(wanted)):
        problems.append(f"the workflow has no {', '.join(extra)}")
    problems += sorted(
        {
            f"{step.step} ran service {step.service_cid}, the workflow names {wanted[step.step]}"
            for step in run.steps
            if step.step in wanted and step.service_cid != wanted[step.step]
        }
    )
    verdict.add(name, not problems, "; ".join(problems) or f"{len(wanted)} step(s), each by its service's CID")


def _check_plaintexts(
    verdict: Verdict, store: Store, identity: str, recorded: list[str], results: dict[str, ResultInfo]
) -> None:
    from eotrust.crypto import check_sealed

    for cid in recorded:  # decrypted only to name the plaintext: nothing of it is written
        result = results.get(cid)
        if result is None or not result.recipient:
            continue
        name, want = result.name, result.plaintext_cid
        try:
            plain = check_sealed(store, cid, identity, expected_cid=want)
        except IntegrityError as exc:  # it decrypted, to other bytes than recorded
            verdict.add(f"result {name!r}: decrypts to the recorded plaintext", False, exc.message)
            continue
        except EotrustError as exc:
            verdict.add(f"result {name!r}: decrypts", False, exc.message)
            continue
        verdict.add(f"result {name!r}: decrypts to the recorded plaintext", True, plain)
