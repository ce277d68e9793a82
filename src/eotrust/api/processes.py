"""OGC API - Processes: ``/processes``, ``/processes/{processId}`` and
``POST /processes/{processId}/execution``.

A process is an application of the catalogue (a published workflow, by CID). Its inputs are
the workflow's data inputs (each a catalogue dataset, by record id or by the CID of its bytes),
the workflow's parameters (typed, with defaults; those without one must be given) and an
optional ``platform``. Executing it is the caller (a submitter, by API key) opening a ledger
task; the job id is the task's contract address."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from eotrust.api import flowops
from eotrust.api.auth import Caller, require_party
from eotrust.api.links import base_url
from eotrust.api.ogc import (
    ERROR_RESPONSES,
    REL_EXECUTE,
    REL_JOB_LIST,
    Execute,
    OgcException,
    Process,
    ProcessList,
    ProcessSummary,
    StatusInfo,
)
from eotrust.api.process_paths import exact_process_id
from eotrust.api.viewer import viewing_party

router = APIRouter(tags=["Processes"])

ProcessId = Path(..., min_length=1, max_length=200, description="the process (application) name")
Version = Query(
    None,
    min_length=1,
    max_length=200,
    description="this version of the process named exactly by the id (default: its newest, or the id read as id:version)",
)


def _summary_links(base: str, name: str) -> list[dict[str, Any]]:
    pid = quote(name, safe="")  # a name may hold a `/` (eotrust.api.process_paths)
    return [
        {"href": f"{base}/processes/{pid}", "rel": "self", "type": "application/json", "title": "process description"},
        {
            "href": f"{base}/processes/{pid}/execution",
            "rel": REL_EXECUTE,
            "type": "application/json",
            "title": "execute (opens a ledger task)",
        },
        {"href": f"{base}/jobs", "rel": REL_JOB_LIST, "type": "application/json", "title": "jobs"},
    ]


def _summary(proc: flowops.ProcessInfo, base: str) -> dict[str, Any]:
    return {
        "id": proc.id,
        "version": proc.version,
        "title": proc.title,
        "description": proc.description,
        "keywords": proc.keywords,
        "jobControlOptions": ["async-execute", "sync-execute"],
        "outputTransmission": ["reference"],
        "metadata": [
            {"title": "workflow CID", "role": "workflow", "value": proc.workflow_cid},
            {"title": "application record", "role": "catalogue-record", "value": proc.application_id},
            {"title": "application owner", "role": "owner", "value": proc.owner},
        ],
        "links": _summary_links(base, proc.id),
    }


@router.get("/processes", response_model=ProcessList, response_model_exclude_none=True, summary="List the processes")
def list_processes(request: Request, viewer: str | None = Depends(viewing_party)) -> dict[str, Any]:
    base = base_url(request)
    procs = flowops.list_processes(request.app.state.eotrust, viewer)
    return {
        "processes": [_summary(p, base) for p in procs],
        "links": [{"href": f"{base}/processes", "rel": "self", "type": "application/json"}],
    }


@router.get(
    "/processes/{processId}",
    response_model=Process,
    response_model_exclude_none=True,
    response_model_by_alias=True,
    summary="Describe a process",
    responses={404: ERROR_RESPONSES[404]},
)
def describe_process(
    request: Request,
    processId: str = ProcessId,
    version: str | None = Version,
    viewer: str | None = Depends(viewing_party),
) -> Any:
    state = request.app.state.eotrust
    proc = flowops.get_process(state, exact_process_id(request, processId), viewer, version)
    doc = _summary(proc, base_url(request))
    doc["versions"] = flowops.process_versions(state, proc.id, viewer)
    doc["inputs"] = flowops.input_descriptions(proc)
    doc["outputs"] = flowops.output_descriptions(proc)
    return doc


@router.post(
    "/processes/{processId}/execution",
    summary="Execute a process (opens a ledger task as the calling submitter)",
    status_code=200,
    responses={
        200: {"description": "synchronous execution: the results document"},
        201: {
            "model": StatusInfo,
            "description": "asynchronous execution: the job was created",
            "headers": {"Location": {"description": "URL of the job", "schema": {"type": "string"}}},
        },
        400: ERROR_RESPONSES[400],
        401: ERROR_RESPONSES[401],
        403: ERROR_RESPONSES[403],
        404: ERROR_RESPONSES[404],
        500: {"model": OgcException, "description": "synchronous execution: the task failed"},
    },
)
def execute(
    request: Request,
    body: Execute,
    processId: str = ProcessId,
    version: str | None = Version,
    prefer: str | None = Header(None, alias="Prefer", description="respond-async or respond-sync"),
    caller: Caller = Depends(require_party),
) -> JSONResponse:
    state = request.app.state.eotrust
    base = base_url(request)
    proc = flowops.get_process(state, exact_process_id(request, processId), caller.party, version)
    job = flowops.execute(state, caller, proc, body)
    wants_async = prefer is not None and "respond-async" in prefer.lower()
    if not wants_async:
        deadline = time.monotonic() + state.sync_timeout_s
        status = flowops.job_status(state, job, base)
        while status["status"] in ("accepted", "running") and time.monotonic() < deadline:
            time.sleep(0.25)
            status = flowops.job_status(state, job, base)
        if status["status"] == "successful":
            return JSONResponse(
                flowops.job_results(state, job, base),
                status_code=200,
                headers={"Preference-Applied": "respond-sync"} if prefer else None,
            )
        if status["status"] in ("failed", "dismissed"):
            return JSONResponse(
                flowops.failure_exception(state, job, status), status_code=500 if status["status"] == "failed" else 409
            )
        # not done in time: fall back to an asynchronous answer
    status = flowops.job_status(state, job, base)
    headers = {"Location": f"{base}/jobs/{job}"}
    if wants_async:
        headers["Preference-Applied"] = "respond-async"
    return JSONResponse(
        StatusInfo.model_validate(status).model_dump(mode="json", exclude_none=True), status_code=201, headers=headers
    )


__all__ = ["router", "ProcessSummary"]
