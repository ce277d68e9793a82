"""The runner: starts fully acknowledged tasks and executes them on the platform.

For one task of this platform, :meth:`Runner.advance` does whatever the ledger says is next:

- RequestsLocked and every request acknowledged → ``start(execution id)``;
- Running and nothing made yet → fetch each encrypted input by the CID its owner acknowledged,
  decrypt it with the platform's age identity (only here), check the plaintext is the dataset
  the catalogue names, run the application's workflow through the :class:`Executor`, then
  encrypt each output for the submitter's key (the results policy), store it in the shared
  store, publish the run record, and write all of it to the journal in one atomic write.
  Any failure on the way writes the error log (encrypted for the submitter) to the journal.
When the task ends (finished, failed or interrupted), its decrypted inputs and every object its
run added to the platform's private store are deleted. A node killed on the spot (SIGKILL,
power loss) cannot do that: ``in-flight.json`` names what the private store held before the run,
and the next node of the platform deletes the rest, with the killed run's work directories,
before it does anything else (:meth:`Runner.clean_after_crash`).

The collector (``collector.py``) then records what the journal holds on the contract. Every
step is idempotent: it reads the contract state first and does only what is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eotrust.catalog.entries import PLAIN_NAME_PATTERN, Kind, PlatformInfo, Record, TaskInfo
from eotrust.catalog.service import Catalog
from eotrust.disk import check_free_disk, room_to_decrypt
from eotrust.errors import BackendUnavailableError, EotrustError, IntegrityError, WorkflowError
from eotrust.ledger import Chain, TaskClient, TaskSnapshot
from eotrust.limits import json_loads
from eotrust.nodes.executor import Executor
from eotrust.nodes.journal import Journal, SealedResult, TaskJournal
from eotrust.nodes.platform_store import PlatformStore
from eotrust.party import Party
from eotrust.settings import Settings
from eotrust.store.atomic import write_atomic
from eotrust.store.base import Store
from eotrust.store.local import LocalStore
from eotrust.workflow.errors import RunFailed

RUN_RECORD = "run-record"
FAILURE_LOG = "failure-log"
#: in-flight.json names the CIDs of the private store before a run: ~50 bytes each
IN_FLIGHT_MAX_BYTES = 16 << 20

Log = Callable[[str], None]
#: Called as ``moved(task_address, new_state)`` after each state change the node makes.
Moved = Callable[[str, str], None]


class InputRejected(EotrustError):
    """An input cannot be used: missing, altered, not encrypted for this platform, not the
    dataset the catalogue names."""


@dataclass
class PlatformContext:
    """Everything a platform's nodes share."""

    settings: Settings
    party: Party
    platform: Record[PlatformInfo]  # the platform's catalogue record
    chain: Chain
    catalog: Catalog
    shared: Store
    private: LocalStore  # the platform's own disk: what a task decrypted or made is deleted from it
    executor: Executor
    journal: Journal
    log: Log
    moved: Moved | None = None

    def report(self, address: str, state: str) -> None:
        if self.moved is not None:
            self.moved(address, state)

    @property
    def address(self) -> str:
        return self.party.account.address

    @property
    def platform_name(self) -> str:
        return self.platform.body.name

    @property
    def work_dir(self) -> Path:
        return self.settings.path("nodes", self.platform_name, "work")

    @property
    def in_flight_path(self) -> Path:
        """The task under way and what the private store held before its run began."""
        return self.settings.path("nodes", self.platform_name) / "in-flight.json"


def _flatten(outputs: Mapping[str, str | list[str]]) -> list[tuple[str, str]]:
    """Workflow outputs as (name, CID) pairs in name order; a list output gives NAME-0, NAME-1…"""
    pairs: list[tuple[str, str]] = []
    for name in sorted(outputs):
        value = outputs[name]
        if isinstance(value, str):
            pairs.append((name, value))
        else:
            pairs.extend((f"{name}-{i}", cid) for i, cid in enumerate(value))
    return pairs


def result_names(outputs: Mapping[str, str | list[str]]) -> list[tuple[str, str]]:
    """The results to record, as :func:`_flatten` names them; WorkflowError unless each name is
    plain and none repeats (each names the submitter's file of it: a path would write outside
    the folder it collects into, a repeated name over another result)."""
    pairs = _flatten(outputs)
    seen: set[str] = set()
    for name, _ in pairs:
        if not re.fullmatch(PLAIN_NAME_PATTERN, name):
            raise WorkflowError(
                f"the application's output {name[:80]!r} is not a plain name (a letter or _, then up to 99 "
                "letters, digits, _ or -); no result is recorded"
            )
        if name in seen:
            raise WorkflowError(f"the application's outputs give two results named {name!r}; no result is recorded")
        seen.add(name)
    return pairs


def short(address: str) -> str:
    """A task address as log lines show it."""
    return f"{address[:6]}…{address[-4:]}"


def execution_id(address: str, platform_id: str) -> uuid.UUID:
    """A deterministic execution id: the same task on the same platform always gets the same."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"eotrust:execution:{address.lower()}:{platform_id}")


class Runner:
    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx

    # -- RequestsLocked -> Running ------------------------------------------
    def maybe_start(self, task: TaskClient, snap: TaskSnapshot) -> bool:
        if not snap.all_acknowledged:
            return False
        self.ctx.log(f"task {short(task.address)}: every request acknowledged — starting the execution")
        task.start(self.ctx.party.account, execution_id(task.address, self.ctx.platform.id))
        self.ctx.report(task.address, "Running")
        return True

    # -- Running: execute and seal ------------------------------------------
    def execute(self, task: TaskClient, snap: TaskSnapshot) -> TaskJournal:
        """Make the results (or the failure log) of a Running task, once; journal them."""
        ctx = self.ctx
        entry = ctx.journal.load(task.address)
        if not (entry.results or entry.failure_log_cid):  # one begun before entries named their chain?
            entry = ctx.journal.adopt_unkeyed(task.address, snap.result_cids) or entry
        if entry.results or entry.failure_log_cid:
            return entry  # made before a restart: the collector records exactly these
        kept = self._private_objects()
        write_atomic(
            ctx.in_flight_path, json.dumps({"task": task.address, "kept": sorted(kept)}).encode(), durable=True
        )
        work = Path(tempfile.mkdtemp(prefix="task-", dir=ctx.work_dir))
        inputs: dict[str, str] = {}
        try:
            try:
                info = self._task_record(task.address, snap)
                application = ctx.catalog.get(info.application_id, Kind.APPLICATION)
                app = application.body
                if application.owner.lower() != snap.application_owner.lower():
                    raise IntegrityError(
                        f"application {application.id} is signed by {application.owner}, "
                        f"not by the task's application owner {snap.application_owner}"
                    )
                inputs = self._fetch_inputs(task.address, snap, info, work, inputs)
                ctx.log(f"task {short(task.address)}: running application {app.name} (workflow {app.workflow_cid})")
                store = PlatformStore(ctx.private, ctx.shared)
                execution = ctx.executor.execute(
                    app.workflow_cid,
                    inputs,
                    dict(info.params),
                    store=store,
                    progress=lambda line: ctx.log(f"task {short(task.address)}: {line}"),
                )
                entry = self._seal_outputs(task.address, snap, execution.outputs, execution.run_cid, work)
            except BackendUnavailableError:
                raise  # the chain or the store is away: try again later, nothing is lost
            except EotrustError as exc:
                entry = self._seal_failure(task.address, snap, exc, work)
            ctx.journal.save(entry)
            return entry
        finally:
            shutil.rmtree(work, ignore_errors=True)
            self._forget_inputs(task.address, inputs)
            self._forget_intermediates(task.address, kept)
            ctx.in_flight_path.unlink(missing_ok=True)

    def clean_after_crash(self) -> None:
        """Delete what a node of this platform killed mid-task left: its work directories and
        every object its run had added to the private store (decrypted inputs, step outputs
        made from them). Only with the node lock held (:meth:`PlatformNode.exclusive`): no run
        is under way. A record that cannot be read deletes nothing from the store and says so."""
        ctx = self.ctx
        for leftover in sorted(ctx.work_dir.glob("task-*")):
            shutil.rmtree(leftover, ignore_errors=True)
            ctx.log(f"work directory {leftover.name} of an interrupted run deleted")
        path = ctx.in_flight_path
        if not path.exists():
            return
        try:
            with open(path, "rb") as f:
                data = f.read(IN_FLIGHT_MAX_BYTES + 1)
            if len(data) > IN_FLIGHT_MAX_BYTES:
                raise ValueError(f"over {IN_FLIGHT_MAX_BYTES} bytes")
            record = json_loads(data)
            address, kept = str(record["task"]), {str(cid) for cid in record["kept"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            ctx.log(f"WARNING: {path} cannot be read ({exc}); the private store is left as it is")
        else:
            ctx.log(f"task {short(address)}: its run was interrupted — cleaning up after it")
            self._forget_intermediates(address, kept)
        path.unlink(missing_ok=True)

    def _forget_inputs(self, address: str, inputs: dict[str, str]) -> None:
        """Delete this task's decrypted inputs from the private store: they live only while it runs."""
        private = self.ctx.private
        for name, cid in sorted(inputs.items()):
            if private.has(cid):
                private.remove(cid)
                self.ctx.log(f"task {short(address)}: decrypted input {name!r} deleted from the platform")

    def _private_objects(self) -> set[str]:
        return {o.cid for o in self.ctx.private.list()}

    def _forget_intermediates(self, address: str, kept: set[str]) -> None:
        """Delete what this task's run wrote to the private store (step outputs, logs, its run
        record): made from the decrypted inputs, they may hold them whole (a step that joins or
        copies its inputs). What leaves the platform was sealed to the shared store first (and
        a node runs applications without the step cache, whose entries would name them)."""
        private = self.ctx.private
        made = self._private_objects() - kept
        for cid in sorted(made):
            private.remove(cid)
        if made:
            self.ctx.log(f"task {short(address)}: {len(made)} intermediate results deleted from the platform")

    def _task_record(self, address: str, snap: TaskSnapshot) -> TaskInfo:
        """The submitter's signed record of this task, checked against the contract."""
        # only the submitter's signed records, of this chain (a fresh dev chain reuses addresses)
        info = self.ctx.catalog.task(address, submitter=snap.submitter, chain=self.ctx.chain.key).body
        if snap.application_record != info.application_id:
            raise IntegrityError(f"task {short(address)}: the contract's application is not the one its record names")
        wanted = sorted(info.inputs.values())
        on_chain = sorted(r.dataset_record for r in snap.requests)
        if wanted != on_chain:
            raise IntegrityError(
                f"task {short(address)}: the contract's resource requests are not the datasets its record names"
            )
        return info

    def _fetch_inputs(
        self, address: str, snap: TaskSnapshot, info: TaskInfo, work: Path, inputs: dict[str, str]
    ) -> dict[str, str]:
        """Decrypt each acknowledged input here, check it, keep it in the private store (until
        the task ends; ``inputs`` is filled as they arrive, so even a half-fetched set is deleted)."""
        from eotrust.crypto import open_from_store

        ctx = self.ctx
        self._check_room(snap)
        name_of = {dataset_id: name for name, dataset_id in info.inputs.items()}
        for index, request in enumerate(snap.requests):
            dataset_id = request.dataset_record
            name = name_of[dataset_id]
            dataset = ctx.catalog.get(dataset_id, Kind.DATASET).body
            expected = dataset.cid
            ciphertext = request.input_cid
            what = f"input {name!r} (request {index}, dataset {dataset.title!r} of {request.owner})"
            ctx.log(f"task {short(address)}: fetching {what} — ciphertext {ciphertext}")
            if ciphertext is None or not ctx.shared.has(ciphertext):
                raise InputRejected(f"{what}: the acknowledged ciphertext {ciphertext} is not in the store")
            dest = work / "inputs" / f"input-{index}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                plaintext = open_from_store(ctx.shared, ciphertext, ctx.party.age_identity, dest, expected_cid=expected)
            except IntegrityError as exc:
                raise InputRejected(
                    f"{what}: {exc.message} (the catalogue's dataset is {expected})",
                    hint="the data owner encrypted another file than the one registered",
                ) from None
            except EotrustError as exc:
                raise InputRejected(f"{what}: {exc.message}", hint=exc.hint) from None
            inputs[name] = ctx.private.put_file(dest)
            dest.unlink()
            ctx.log(f"task {short(address)}: {what} decrypted on the platform and checked: {plaintext}")
        return inputs

    def _check_room(self, snap: TaskSnapshot) -> None:
        """Refuse the task before anything is decrypted when its inputs, every one of which stays
        in the private store while the task runs, would leave less than ``min_free_disk_mb`` free
        for the platform (a data owner's huge dataset must not fill the disk the node's journal,
        chain and catalogue live on)."""
        ctx = self.ctx
        sizes = [ctx.shared.size(r.input_cid) for r in snap.requests if r.input_cid and ctx.shared.has(r.input_cid)]
        check_free_disk(
            [ctx.work_dir, ctx.private.root],
            ctx.settings.min_free_disk_mb,
            more=room_to_decrypt(sizes),
            who=f"platform {ctx.platform_name}",
        )

    def _seal_outputs(
        self, address: str, snap: TaskSnapshot, outputs: Mapping[str, str | list[str]], run_cid: str, work: Path
    ) -> TaskJournal:
        from eotrust.crypto import seal_to_store

        ctx = self.ctx
        view = PlatformStore(ctx.private, ctx.shared)
        recipient = snap.results_recipient
        results: list[SealedResult] = []
        pairs = result_names(outputs)
        for i, (name, cid) in enumerate(pairs):
            plain = view.get_file(cid, work / "outputs" / f"result-{i}")
            sealed = seal_to_store(ctx.shared, plain, [recipient])
            plain.unlink()
            results.append(
                SealedResult(
                    name=name, cid=sealed.cid, plaintext_cid=sealed.plaintext_cid, size=sealed.size, recipient=recipient
                )
            )
            ctx.log(f"task {short(address)}: output {name!r} encrypted for the submitter and stored: {sealed.cid}")
        # The run record is provenance for anyone who verifies: published as it is.
        record_bytes = view.get_bytes(run_cid)
        published = ctx.shared.put_bytes(record_bytes)
        results.append(
            SealedResult(name=RUN_RECORD, cid=published, plaintext_cid=published, size=len(record_bytes), recipient="")
        )
        ctx.log(f"task {short(address)}: run record published: {published}")
        return TaskJournal(address=address, run_cid=run_cid, results=results)

    def _seal_failure(self, address: str, snap: TaskSnapshot, exc: EotrustError, work: Path) -> TaskJournal:
        from eotrust.crypto import seal_to_store

        ctx = self.ctx
        lines = [
            f"eotrust task {address} failed on platform {ctx.platform_name}",
            f"error: {exc.message}",
        ]
        if exc.hint:
            lines.append(f"hint: {exc.hint}")
        if isinstance(exc, RunFailed) and exc.log_cid:
            lines.append(f"step {exc.step} exit status {exc.exit_status}; its log ({exc.log_cid}):")
            try:
                lines.append(PlatformStore(ctx.private, ctx.shared).get_bytes(exc.log_cid).decode("utf-8", "replace"))
            except EotrustError as read_error:
                lines.append(f"(the step log could not be read: {read_error.message})")
        if not isinstance(exc, (InputRejected, IntegrityError, RunFailed)):
            lines.append("".join(traceback.format_exception_only(type(exc), exc)))
        text = "\n".join(lines) + "\n"
        log_file = work / "failure.log"
        log_file.write_text(text)
        sealed = seal_to_store(ctx.shared, log_file, [snap.results_recipient])
        ctx.log(f"task {short(address)}: FAILED — {exc.message}; error log encrypted for the submitter: {sealed.cid}")
        return TaskJournal(
            address=address,
            failure=exc.message,
            failure_log_cid=sealed.cid,
            failure_log=SealedResult(
                name=FAILURE_LOG,
                cid=sealed.cid,
                plaintext_cid=sealed.plaintext_cid,
                size=sealed.size,
                recipient=snap.results_recipient,
            ),
        )
