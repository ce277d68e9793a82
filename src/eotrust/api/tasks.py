"""The party REST API for tasks: who am I, my tasks, open a task, a task's contract state,
its history and its provenance graph, and each owner's answer to its own request.

Every route acts for the party of the API key and only for it: a data owner answers only
requests addressed to it; only the parties named by a task see it."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from eotrust.api import flowops
from eotrust.api.auth import Caller, require_party
from eotrust.api.ogc import ERROR_RESPONSES, Execute

router = APIRouter(tags=["Tasks"])

Address = Path(..., min_length=1, max_length=100, description="the task's contract address")
_ERR: dict[int | str, dict[str, Any]] = {k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404)}


class Me(BaseModel):
    party: str
    address: str | None = None
    role: str | None = None


class TaskSummary(BaseModel):
    address: str
    process: str | None = None
    state: str
    status: str
    created: str
    submitter: str


class OpenTask(BaseModel):
    """Open a task: an application (process id), its inputs and parameters, optionally a platform."""

    model_config = ConfigDict(extra="forbid")
    process: str = Field(..., min_length=1, max_length=200, description="the application (process) name")
    inputs: dict[str, Any] = Field(default_factory=dict, description="dataset inputs, parameters and 'platform'")


class TaskStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    address: str
    state: str
    status: str
    submitter: str
    snapshot: dict[str, Any]


class HistoryEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    event: str
    block: int | None = None
    party: str | None = None
    details: str | None = None
    time: str | None = None
    tx: str | None = None
    summary: str | None = Field(default=None, description="the event in words, parties and records by name")
    party_name: str | None = None


class ProvNode(BaseModel):
    id: str
    kind: Literal["input", "stored", "run", "result"] = Field(
        ..., description="a dataset, its ciphertext stored for the platform, the run, a result"
    )
    label: str
    cid: str | None = None


class Provenance(BaseModel):
    nodes: list[ProvNode]
    edges: list[tuple[str, str]]


class Answer(BaseModel):
    """An owner's answer to every open request of the task addressed to it (its application,
    its platform, its datasets: each dataset is encrypted for the platform and stored)."""

    model_config = ConfigDict(extra="forbid")
    # irreversible: a JSON true or false and nothing else ("yes", 1, null or no answer are 400)
    accept: StrictBool = Field(description="true to acknowledge, false to refuse (the task is then Nacked)")


@router.get("/me", response_model=Me, summary="The party this API key acts as", responses=_ERR)
def me(caller: Caller = Depends(require_party)) -> dict[str, Any]:
    return {"party": caller.party, "address": caller.address, "role": caller.role}


@router.get("/tasks", response_model=list[TaskSummary], summary="Tasks that name the caller", responses=_ERR)
def list_tasks(request: Request, caller: Caller = Depends(require_party)) -> list[dict[str, Any]]:
    state = request.app.state.eotrust
    out = []
    for rec, snap in flowops.tasks_involving(state, caller):
        out.append(
            {
                "address": flowops.task_info(rec).address,
                "process": flowops._process_name(state, rec),
                "state": snap.state.value,
                "status": flowops.STATUS_OF_STATE[snap.state],
                "created": rec.created,
                "submitter": snap.submitter,
            }
        )
    return out


@router.post(
    "/tasks",
    response_model=TaskSummary,
    status_code=201,
    summary="Open a task as the calling submitter",
    responses=_ERR,
)
def open_task(request: Request, body: OpenTask, caller: Caller = Depends(require_party)) -> dict[str, Any]:
    state = request.app.state.eotrust
    proc = flowops.get_process(state, body.process, caller.party)
    address = flowops.execute(state, caller, proc, Execute(inputs=body.inputs))
    rec, snap = flowops.snapshot(state, address)
    return {
        "address": address,
        "process": proc.id,
        "state": snap.state.value,
        "status": flowops.STATUS_OF_STATE[snap.state],
        "created": rec.created,
        "submitter": snap.submitter,
    }


@router.get("/tasks/{address}", response_model=TaskStatus, summary="The task contract's full state", responses=_ERR)
def task_status(request: Request, address: str = Address, caller: Caller = Depends(require_party)) -> dict[str, Any]:
    state = request.app.state.eotrust
    flowops.ensure_job_party(state, caller, address)
    _, snap = flowops.snapshot(state, address)
    return {
        "address": address,
        "state": snap.state.value,
        "status": flowops.STATUS_OF_STATE[snap.state],
        "submitter": snap.submitter,
        "snapshot": flowops.jsonable(snap),
    }


@router.get(
    "/tasks/{address}/history", response_model=list[HistoryEvent], summary="The task's ledger events", responses=_ERR
)
def task_history(
    request: Request, address: str = Address, caller: Caller = Depends(require_party)
) -> list[dict[str, Any]]:
    state = request.app.state.eotrust
    flowops.ensure_job_party(state, caller, address)
    return flowops.history(state, address)


@router.get(
    "/tasks/{address}/provenance",
    response_model=Provenance,
    summary="Inputs → run → results of the task, as a graph",
    responses=_ERR,
)
def task_provenance(
    request: Request, address: str = Address, caller: Caller = Depends(require_party)
) -> dict[str, Any]:
    state = request.app.state.eotrust
    flowops.ensure_job_party(state, caller, address)
    return flowops.provenance(state, address)


@router.post(
    "/tasks/{address}/answer",
    response_model=TaskStatus,
    summary="Acknowledge or refuse the request addressed to the caller",
    responses={
        **_ERR,
        409: {"model": ERROR_RESPONSES[400]["model"], "description": "the task is not waiting for answers"},
    },
)
def answer(
    request: Request, body: Answer, address: str = Address, caller: Caller = Depends(require_party)
) -> dict[str, Any]:
    state = request.app.state.eotrust
    flowops.answer(state, caller, address, body.accept)
    _, snap = flowops.snapshot(state, address)
    return {
        "address": address,
        "state": snap.state.value,
        "status": flowops.STATUS_OF_STATE[snap.state],
        "submitter": snap.submitter,
        "snapshot": flowops.jsonable(snap),
    }
