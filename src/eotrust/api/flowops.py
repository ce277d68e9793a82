"""What the OGC routes and the party REST API do, over the lower layers: the catalogue
(applications, datasets, platforms, tasks, results), published workflows, the ledger (task
state and history) and the task flow's party actions. Routes stay thin; this is the one place
that knows how an OGC process, execution and job map onto eotrust."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eotrust.api.auth import Caller, same_address
from eotrust.api.ogc import EXC, REL_RESULTS, Execute
from eotrust.api.state import ServerState
from eotrust.catalog.entries import ApplicationInfo, DatasetInfo, Kind, PlatformInfo, Record, TaskInfo
from eotrust.clock import utc_iso, utc_now
from eotrust.errors import EotrustError, InvalidInputError, NotFoundError, PermissionDeniedError
from eotrust.ledger import TaskEvent, TaskSnapshot, TaskState
from eotrust.ledger.models import RequestChanged, StateChanged, TaskCreated, record_id

if TYPE_CHECKING:
    from eotrust.roles.owners.answer import Answer
    from eotrust.workflow.params import ParamSpec
    from eotrust.workflow.spec import WorkflowSpec

# contract state -> OGC job status
STATUS_OF_STATE: dict[TaskState, str] = {
    TaskState.Initialized: "accepted",
    TaskState.RequestsLocked: "accepted",
    TaskState.Running: "running",
    TaskState.Finished: "successful",
    TaskState.Failed: "failed",
    TaskState.Nacked: "dismissed",
    TaskState.Expired: "dismissed",
}
PROGRESS_OF_STATE = {
    TaskState.Initialized: 0,
    TaskState.RequestsLocked: 10,
    TaskState.Running: 50,
    TaskState.Finished: 100,
    TaskState.Failed: 100,
    TaskState.Nacked: 100,
    TaskState.Expired: 100,
}
PLATFORM_INPUT = "platform"
SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


class NoSuchProcess(NotFoundError):
    ogc_type = f"{EXC}/no-such-process"


class AmbiguousProcess(InvalidInputError):
    """A process id that reads as more than one process (``name:version`` beside a name with a
    ``:``): the request says which with ``?version=``."""


class NoSuchJob(NotFoundError):
    ogc_type = f"{EXC}/no-such-job"


@dataclass
class ProcessInfo:
    """A process: an application of the catalogue and the published workflow it runs."""

    id: str
    version: str
    title: str
    description: str
    keywords: list[str]
    application_id: str
    owner: str
    workflow_cid: str
    data_inputs: dict[str, str] = field(default_factory=dict)  # name -> port type (file, file[])
    params: dict[str, Any] = field(default_factory=dict)  # name -> ParamView
    outputs: list[str] = field(default_factory=list)


# -- processes -------------------------------------------------------------------------------


def _workflow_spec(state: ServerState, workflow_cid: str) -> WorkflowSpec | None:
    """The published workflow (None when it cannot be read from this server's store)."""
    try:
        from eotrust.workflow.spec import load_workflow

        return load_workflow(workflow_cid, store=state.store)
    except EotrustError:
        return None


@dataclass
class ParamView:
    """One parameter of a process: its JSON schema, whether it must be given, and the workflow's
    own declaration when the workflow could be read (used to check and convert values)."""

    schema: dict[str, Any]
    required: bool
    description: str = ""
    spec: ParamSpec | None = None


def _process_of(state: ServerState, record: Record[ApplicationInfo]) -> ProcessInfo:
    body = record.body
    spec = _workflow_spec(state, body.workflow_cid)
    params: dict[str, ParamView] = {}
    if spec is not None:
        data_inputs: dict[str, str] = {name: port.type for name, port in spec.inputs.items()}
        for name, pspec in spec.params.items():
            params[name] = ParamView(param_schema(pspec), pspec.required, pspec.description, pspec)
        outputs = list(spec.outputs)
    else:  # the workflow is not in this server's store: describe it from the application record
        data_inputs = dict.fromkeys(body.inputs, "file")
        schema = body.parameters_schema or {}
        required = set(schema.get("required", []))
        for name, sub in (schema.get("properties") or {}).items():
            sub = sub if isinstance(sub, dict) else {}
            params[name] = ParamView(sub, name in required and "default" not in sub, str(sub.get("description", "")))
        outputs = list(body.outputs)
    return ProcessInfo(
        id=body.name,
        version=body.version,
        title=body.name,
        description=body.description or (spec.description if spec is not None else "") or body.name,
        keywords=list(body.keywords),
        application_id=record.id,
        owner=record.owner,
        workflow_cid=body.workflow_cid,
        data_inputs=data_inputs,
        params=params,
        outputs=outputs,
    )


def owners_by_name(records: list[Record[ApplicationInfo]]) -> dict[str, set[str]]:
    """Per application name, the addresses (lower case) of everyone who signed a record of it.
    Anyone may sign a record of any name, and the time a record says it was made is its
    signer's word: a name of several owners is nobody's process (as ``Catalog.find`` refuses
    to choose between them)."""
    owners: dict[str, set[str]] = {}
    for rec in records:
        owners.setdefault(rec.body.name, set()).add(rec.owner.lower())
    return owners


def _deployed_applications(state: ServerState, viewer: str | None) -> list[Record[ApplicationInfo]]:
    """Application records a viewer (party name, or None for anyone) may see as processes, in
    creation order: those deployed over OGC API - Processes - Part 2 by the newest statement of
    their version (not undeployed, not replaced, visible to the viewer) and those registered
    from the CLI, which have no deployment statement and are public."""
    current = state.deployments.current()
    deployed_at = {key: position for position, key in enumerate(current)}  # current() is in deployment order
    records = state.catalog.list(Kind.APPLICATION)
    owners = owners_by_name(records)
    out = []
    for rec in records:
        app = rec.body
        dep = current.get((app.name, app.version))
        if dep is not None and (dep.application != rec.id or dep.status != "deployed" or not dep.visible_to(viewer)):
            continue
        if dep is None and any(p == app.name for p, _ in current):
            continue  # a version of a deployed process that was never deployed itself
        if dep is None and len(owners[app.name]) > 1:
            continue  # registered from the CLI by several owners: which is meant is not for us to pick
        out.append(rec)
    # records carry their time to the second: two versions deployed within one second are in
    # the order they were deployed, not in that of their ids
    out.sort(key=lambda r: (r.created, deployed_at.get((r.body.name, r.body.version), -1)))
    return out


def _applications(state: ServerState, viewer: str | None = None) -> dict[str, Record[ApplicationInfo]]:
    """The newest visible application record of each name."""
    newest: dict[str, Record[ApplicationInfo]] = {}
    for rec in _deployed_applications(state, viewer):
        newest[rec.body.name] = rec  # list() is ordered by creation time
    return newest


def list_processes(state: ServerState, viewer: str | None = None) -> list[ProcessInfo]:
    return [_process_of(state, rec) for _, rec in sorted(_applications(state, viewer).items())]


def get_process(
    state: ServerState, process_id: str, viewer: str | None = None, version: str | None = None
) -> ProcessInfo:
    """A process by id: its newest visible version, or ``id:version``; with ``version`` (the
    ``?version=`` of a request), that version of the process named exactly ``process_id``.

    A name is its signer's to choose, a ``:`` included, so ``a:b:1.0`` reads as the process
    ``a:b:1.0`` (its newest version), as version ``b:1.0`` of ``a`` and as version ``1.0`` of
    ``a:b``. The one process those readings find is the answer; where they find several (one
    party's ``a:1.0`` beside another's ``a`` of version ``1.0``) the id is refused, never given
    to one of them: a name cannot take over another process's ``id:version``."""
    records = _deployed_applications(state, viewer)
    if version is not None:
        found = [r for r in records if r.body.name == process_id and r.body.version == version]
        if not found:
            raise NoSuchProcess(f"no process {process_id!r} of version {version!r}", hint="GET /processes lists them")
        return _process_of(state, found[-1])
    newest = _applications(state, viewer)
    readings: list[tuple[str, str | None]] = [(process_id, None)]
    readings += [(process_id[:i], process_id[i + 1 :]) for i, c in enumerate(process_id) if c == ":"]
    matches: dict[str, Record[ApplicationInfo]] = {}
    for name, wanted in readings:
        if wanted is None:
            rec = newest.get(name)
        else:
            found = [r for r in records if r.body.name == name and r.body.version == wanted]
            rec = found[-1] if found else None
        if rec is not None:
            matches.setdefault(rec.id, rec)
    if not matches:
        raise NoSuchProcess(f"no process {process_id!r}", hint="GET /processes lists them")
    if len(matches) > 1:
        named = "; ".join(f"{r.body.name!r} version {r.body.version!r}" for r in matches.values())
        raise AmbiguousProcess(
            f"{process_id!r} names more than one process ({named}): ask for one as /processes/NAME?version=VERSION"
        )
    return _process_of(state, next(iter(matches.values())))


def process_versions(state: ServerState, name: str, viewer: str | None = None) -> list[str]:
    """The visible deployed versions of a process, oldest first."""
    return [r.body.version for r in _deployed_applications(state, viewer) if r.body.name == name]


_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def param_schema(spec: ParamSpec) -> dict[str, Any]:
    """A workflow parameter's declaration as a JSON schema."""
    kind = spec.type
    if kind == "json":
        schema: dict[str, Any] = {}
    elif kind.endswith("[]"):
        schema = {"type": "array", "items": {"type": _JSON_TYPES[kind[:-2]]}}
    else:
        schema = {"type": _JSON_TYPES[kind]}
    target = schema["items"] if kind.endswith("[]") else schema
    if spec.min is not None:
        target["minimum"] = spec.min
    if spec.max is not None:
        target["maximum"] = spec.max
    if spec.pattern is not None:
        target["pattern"] = spec.pattern
    if spec.choices is not None:
        schema["enum"] = list(spec.choices)
    if spec.has_default:
        schema["default"] = spec.default
    return schema


def input_descriptions(proc: ProcessInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in proc.data_inputs.items():
        many = kind.endswith("[]")
        out[name] = {
            "title": name,
            "description": f"input data '{name}': a catalogue dataset, by record id or by the CID of its bytes",
            "keywords": ["dataset"],
            "minOccurs": 1,
            "maxOccurs": "unbounded" if many else 1,
            "schema": {"type": "string", "minLength": 1},
        }
    for name, view in proc.params.items():
        out[name] = {
            "title": name,
            "description": view.description or f"workflow parameter '{name}'",
            "keywords": ["parameter"],
            "minOccurs": 1 if view.required else 0,
            "maxOccurs": 1,
            "schema": view.schema,
        }
    out[PLATFORM_INPUT] = {
        "title": "platform",
        "description": (
            "the platform that runs the task: a catalogue platform by record id, or by a name only one owner holds; "
            "may be left out only where one platform is registered (several: the execution is refused)"
        ),
        "keywords": ["platform"],
        "minOccurs": 0,
        "maxOccurs": 1,
        "schema": {"type": "string", "minLength": 1},
    }
    return out


def output_descriptions(proc: ProcessInfo) -> dict[str, Any]:
    return {
        name: {
            "title": name,
            "description": f"result '{name}', encrypted for the submitter and stored by CID",
            "schema": {"type": "string", "contentMediaType": "application/octet-stream", "contentEncoding": "binary"},
        }
        for name in proc.outputs
    }


# -- execution -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """An execute-request input value: a literal, or a qualified value {"value": ...}."""
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    if isinstance(value, dict) and "href" in value:
        raise InvalidInputError("inputs by reference (href) are not accepted: give catalogue ids or CIDs")
    return value


def parse_execution(
    state: ServerState, proc: ProcessInfo, body: Execute
) -> tuple[dict[str, str], dict[str, Any], Record[PlatformInfo]]:
    """(workflow input -> dataset record id, parameters, platform record) of an execute request,
    each checked; InvalidInputError names the first problem."""
    from eotrust.workflow.params import check_value

    given = dict(body.inputs or {})
    unknown = sorted(set(given) - set(proc.data_inputs) - set(proc.params) - {PLATFORM_INPUT})
    if unknown:
        raise InvalidInputError(
            f"process {proc.id!r} has no input {unknown[0]!r}",
            hint=f"its inputs are {sorted([*proc.data_inputs, *proc.params, PLATFORM_INPUT])}",
        )
    datasets: dict[str, str] = {}
    for name in proc.data_inputs:
        if name not in given:
            raise InvalidInputError(f"input {name!r} is missing", hint="give a catalogue dataset id or CID")
        ref = _plain(given[name])
        if not isinstance(ref, str) or not SAFE_ID.match(ref):
            raise InvalidInputError(f"input {name!r} must be a catalogue dataset id or CID")
        datasets[name] = _dataset_record(state, ref).id
    params: dict[str, Any] = {}
    for name, view in proc.params.items():
        if name in given:
            value = _plain(given[name])
            if view.spec is not None:
                try:
                    value = check_value(view.spec, value)
                except ValueError as exc:
                    raise InvalidInputError(f"input {name!r}: {exc}") from None
            params[name] = value
        elif view.required:
            raise InvalidInputError(f"input {name!r} is missing (a required workflow parameter)")
    if PLATFORM_INPUT in given:
        ref = _plain(given[PLATFORM_INPUT])
        if not isinstance(ref, str) or not SAFE_ID.match(ref):
            raise InvalidInputError("input 'platform' must be a platform record id or name")
        try:
            platform = state.catalog.find(ref, Kind.PLATFORM)
        except NotFoundError:
            raise InvalidInputError(f"no platform {ref!r} in the catalogue") from None
    else:
        platform = only_platform(state.catalog.list(Kind.PLATFORM))
    return datasets, params, platform


def only_platform(records: list[Record[PlatformInfo]]) -> Record[PlatformInfo]:
    """The platform of an execution that names none: the only one registered — the records of
    one owner under one name, the owner's newest version of it (as ``Catalog.find`` reads a
    name). Anyone may register a platform under any name and date its record as it likes, so
    where there are several none is picked: InvalidInputError asks for one by name or id."""
    versions: dict[tuple[str, str], list[Record[PlatformInfo]]] = {}
    for rec in records:
        versions.setdefault((rec.owner.lower(), rec.body.name), []).append(rec)
    if not versions:
        raise InvalidInputError("no platform is registered in the catalogue to run this process")
    if len(versions) > 1:
        raise InvalidInputError(
            f"several platforms are registered ({len(versions)}): input 'platform' must name the one to run on, "
            "by its record id or by a name only one owner holds",
            hint="GET /catalog/platforms lists them with their owners",
        )
    (only,) = versions.values()
    # the newest version, the smallest id among equals: the order Catalog.find reads a name in
    return max(sorted(only, key=lambda rec: rec.id), key=lambda rec: datetime.fromisoformat(rec.created))


def _dataset_record(state: ServerState, ref: str) -> Record[DatasetInfo]:
    try:
        return state.catalog.find(ref, Kind.DATASET)
    except NotFoundError as exc:
        raise InvalidInputError(exc.message, hint=exc.hint) from None


# -- the ledger --------------------------------------------------------------------------------


def snapshot(state: ServerState, address: str) -> tuple[Record[TaskInfo], TaskSnapshot]:
    """The submitter's catalogue record of task ``address`` and the contract's state of it
    (NoSuchJob when there is no such task)."""
    if not SAFE_ID.match(address):
        raise NoSuchJob(f"no job {address!r}")
    try:
        snap = state.task(address).status()  # NotFoundError where no contract is there
        # the record its submitter signed: anyone may sign one naming the address
        return state.catalog.task(address, submitter=snap.submitter, chain=state.chain.key), snap
    except (NotFoundError, InvalidInputError):  # no such contract, or no address at all
        raise NoSuchJob(f"no job {address!r}", hint="GET /jobs lists yours") from None


def task_info(record: Record[TaskInfo]) -> TaskInfo:
    """The body of a task's catalogue record (``Catalog.task`` gives only task records)."""
    return record.body


def ensure_job_party(state: ServerState, caller: Caller, address: str) -> None:
    _, snap = snapshot(state, address)
    if not snap.names(caller.address):
        raise PermissionDeniedError(f"{caller.party} is not a party of task {address}")


def ensure_job_submitter(state: ServerState, caller: Caller, address: str) -> None:
    _, snap = snapshot(state, address)
    if not same_address(caller.address, snap.submitter):
        raise PermissionDeniedError(
            f"only the submitter of task {address} ({snap.submitter}) may read its results; "
            f"this API key acts as {caller.party} ({caller.address})"
        )


def jobs_of(state: ServerState, caller: Caller) -> list[str]:
    """Addresses of the tasks the caller submitted, oldest first."""
    if not caller.address:
        return []
    mine = dict.fromkeys(task_info(r).address for r in state.catalog.tasks(owner=caller.address))
    out = []
    for address in mine:  # a record names any address its signer likes: the contract says whose it is
        try:
            if same_address(state.task(address).status().submitter, caller.address):
                out.append(address)
        except EotrustError:
            continue
    return out


def tasks_involving(state: ServerState, caller: Caller) -> list[tuple[Record[TaskInfo], TaskSnapshot]]:
    """(task record, snapshot) of every task that names the caller, oldest first."""
    out = []
    for rec in state.catalog.tasks():
        try:
            snap = state.task(task_info(rec).address).status()
        except EotrustError:
            continue
        if same_address(rec.owner, snap.submitter) and snap.names(caller.address):  # the submitter's record only
            out.append((rec, snap))
    return out


def _application(
    state: ServerState, record: Record[TaskInfo]
) -> tuple[Record[ApplicationInfo], ApplicationInfo] | None:
    """The application record a task record names, and its body (None if unknown here)."""
    try:
        app = state.catalog.get(task_info(record).application_id, Kind.APPLICATION)
    except NotFoundError:
        return None
    return app, app.body


def _process_name(state: ServerState, record: Record[TaskInfo]) -> str | None:
    found = _application(state, record)
    return found[1].name if found else None


def job_status(state: ServerState, address: str, base: str) -> dict[str, Any]:
    """The OGC statusInfo of the task at ``address``."""
    record, snap = snapshot(state, address)
    status = STATUS_OF_STATE[snap.state]
    links: list[dict[str, Any]] = [
        {"href": f"{base}/jobs/{address}", "rel": "self", "type": "application/json", "title": "job status"},
        {"href": f"{base}/tasks/{address}", "rel": "alternate", "type": "application/json", "title": "the ledger task"},
    ]
    if status == "successful":
        links.append(
            {
                "href": f"{base}/jobs/{address}/results",
                "rel": REL_RESULTS,
                "type": "application/json",
                "title": "results",
            }
        )
    doc: dict[str, Any] = {
        "processID": _process_name(state, record),
        "type": "process",
        "jobID": address,
        "status": status,
        "message": f"contract state {snap.state.value}",
        "created": record.created,
        "updated": utc_now(),
        "progress": PROGRESS_OF_STATE[snap.state],
        "links": links,
    }
    return {k: v for k, v in doc.items() if v is not None}


def job_results(state: ServerState, address: str, base: str) -> dict[str, Any]:
    """Output name -> link to the result's ciphertext in the store (the OGC results document:
    the process's declared outputs; the run record the platform also records is not an output,
    see ``/tasks/{address}/provenance``)."""
    record, snap = snapshot(state, address)
    found = _application(state, record)
    outputs = set(_process_of(state, found[0]).outputs) if found else set()
    names = result_names(state, address)
    out: dict[str, Any] = {}
    for i, cid in enumerate(snap.result_cids):
        name = names.get(cid) or f"result-{i}"
        if outputs and name not in outputs:
            continue
        out[name] = {
            "href": f"{base}/store/{cid}",
            "rel": "enclosure",
            "type": "application/octet-stream",
            "title": f"{name}: {cid} (age-encrypted for the submitter)",
        }
    return out


def result_names(state: ServerState, address: str) -> dict[str, str]:
    """Ciphertext CID -> result name, from the catalogue's result records of the task."""
    return {r.body.cid: r.body.name for r in state.catalog.results(task=address, chain=state.chain.key)}


def failure_exception(state: ServerState, address: str, status: dict[str, Any]) -> dict[str, Any]:
    _, snap = snapshot(state, address)
    reason = snap.failure if snap.state is TaskState.Failed else None
    detail = f"task {address} ended {snap.state.value}"
    if reason:
        detail += f"; the failure log is stored as {reason}"
    return {
        "type": f"{EXC}/job-failed" if status["status"] == "failed" else f"{EXC}/job-dismissed",
        "title": status["status"],
        "status": 500 if status["status"] == "failed" else 409,
        "detail": detail,
    }


def execute(state: ServerState, caller: Caller, proc: ProcessInfo, body: Execute) -> str:
    """Open a ledger task for ``proc`` as the calling submitter; return its contract address."""
    from eotrust.roles.submitter.request import TaskRequest, open_task

    if caller.role and caller.role != "submitter":
        raise PermissionDeniedError(f"{caller.party} is a {caller.role}; only a submitter opens tasks")
    datasets, params, platform = parse_execution(state, proc, body)
    party = state.load_party(caller.party)
    request = TaskRequest(application=proc.application_id, platform=platform.id, inputs=datasets, params=params)
    with state.lock:
        opened = open_task(state, party, request)
    return opened.address


def answer(state: ServerState, caller: Caller, address: str, accept: bool) -> list[Answer]:
    """The caller answers every open request addressed to it on the task (as itself only)."""
    from eotrust.roles.owners.answer import answer_task

    snapshot(state, address)  # 404 for an unknown task
    party = state.load_party(caller.party)
    with state.lock:
        return answer_task(state, party, address, refuse=not accept)


def jsonable(value: Any) -> Any:
    """A ledger snapshot or event as plain JSON (bytes as 0x-hex, enums by name)."""
    import dataclasses
    from enum import Enum

    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return jsonable(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


_NOT_DETAILS = {"name", "block_number", "party", "task", "log_index", "tx_hash", "timestamp", "old", "new"}


def history(state: ServerState, address: str) -> list[dict[str, Any]]:
    """The task's ledger events, oldest first: event name, block, acting party, details."""
    snapshot(state, address)
    events = state.task(address).history()
    names = _names_of(state, events)
    out = []
    for ev in events:
        raw = jsonable(ev)
        when = utc_iso(ev.timestamp) if ev.timestamp is not None else None
        parts = [f"{ev.old.value} → {ev.new.value}"] if isinstance(ev, (StateChanged, RequestChanged)) else []
        parts += [f"{k}={v}" for k, v in raw.items() if k not in _NOT_DETAILS and v not in (None, "", [], {})]
        out.append(
            {
                "event": ev.name,
                "block": ev.block_number,
                "party": ev.party,
                "details": ", ".join(parts),
                "time": when,
                "tx": ev.tx_hash,
                "summary": _in_words(ev.describe(), names),
                "party_name": names.get(ev.party.lower()),
            }
        )
    return out


_HEX = re.compile(r"0x[0-9a-fA-F]{64}|0x[0-9a-fA-F]{40}")


def _names_of(state: ServerState, events: list[TaskEvent]) -> dict[str, str]:
    """Names for the hex a history holds: party addresses (the parties whose cards this home
    has) and catalogue ids (application, platform, dataset records), lower-cased keys."""
    from eotrust.party import list_cards

    names: dict[str, str] = {}
    try:
        for card in list_cards(state.settings):
            names[card.address.lower()] = card.name
    except EotrustError:
        pass
    for ev in events:
        ids = (
            (ev.id,)
            if isinstance(ev, RequestChanged)
            else (ev.application_id, ev.platform_id)
            if isinstance(ev, TaskCreated)
            else ()
        )
        for value in ids:
            if value is None or not value.startswith("0x") or value.lower() in names:
                continue
            try:
                record = state.catalog.get(record_id(value))
            except (EotrustError, ValueError):
                continue
            body = record.body
            names[value.lower()] = (
                body.title
                if isinstance(body, DatasetInfo)
                else body.name
                if isinstance(body, (ApplicationInfo, PlatformInfo))
                else record.id
            )
    return names


def _in_words(text: str, names: dict[str, str]) -> str:
    """The sentence with every known address or id replaced by its name."""
    return _HEX.sub(lambda m: names.get(m.group(0).lower(), m.group(0)[:10] + "…"), text)


def provenance(state: ServerState, address: str) -> dict[str, Any]:
    """Inputs → run → results of a task as a graph (``eotrust.verify.lineage``, the same lineage
    ``eotrust verify`` checks)."""
    from eotrust.verify.lineage import lineage

    _, snap = snapshot(state, address)
    return lineage(state, address, snap).graph()
