"""OGC API - Processes jobs: ``/jobs``, ``/jobs/{jobId}``, ``/jobs/{jobId}/results``.

A job is a ledger task (its id is the contract address); its status is the contract's state
(Initialized/RequestsLocked → accepted, Running → running, Finished → successful,
Failed → failed, Nacked and Expired → dismissed); its results are links to the CIDs the collector recorded.
Only the parties of a task may read its status, and only its submitter its results."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from eotrust.api import flowops
from eotrust.api.auth import Caller, require_party
from eotrust.api.errors import problem
from eotrust.api.links import base_url
from eotrust.api.ogc import ERROR_RESPONSES, EXC, OgcException, StatusInfo

router = APIRouter(tags=["Jobs"])

JobId = Path(..., min_length=1, max_length=100, description="the job id: the task's contract address")


# GET /jobs (filtered, paged) lives in jobs_management.py with the other job-management routes.


@router.get(
    "/jobs/{jobId}",
    response_model=StatusInfo,
    response_model_exclude_none=True,
    summary="A job's status",
    responses={401: ERROR_RESPONSES[401], 403: ERROR_RESPONSES[403], 404: ERROR_RESPONSES[404]},
)
def job_status(request: Request, jobId: str = JobId, caller: Caller = Depends(require_party)) -> Any:
    state = request.app.state.eotrust
    flowops.ensure_job_party(state, caller, jobId)
    return flowops.job_status(state, jobId, base_url(request))


@router.get(
    "/jobs/{jobId}/results",
    summary="A job's results: links to the stored (encrypted) result CIDs",
    responses={
        200: {"description": "output id -> link to the result's CID in the store"},
        401: ERROR_RESPONSES[401],
        403: ERROR_RESPONSES[403],
        404: ERROR_RESPONSES[404],
        500: {"model": OgcException, "description": "the job failed"},
    },
)
def job_results(request: Request, jobId: str = JobId, caller: Caller = Depends(require_party)) -> JSONResponse:
    state = request.app.state.eotrust
    base = base_url(request)
    flowops.ensure_job_submitter(state, caller, jobId)
    status = flowops.job_status(state, jobId, base)
    if status["status"] in ("accepted", "running"):
        return problem(
            404,
            "result-not-ready",
            f"job {jobId} is {status['status']} ({status.get('message')})",
            f"{EXC}/result-not-ready",
        )
    if status["status"] == "failed":
        return JSONResponse(flowops.failure_exception(state, jobId, status), status_code=500)
    if status["status"] == "dismissed":
        return problem(
            404,
            "no-such-job",
            f"job {jobId} was dismissed ({status.get('message')}); it has no results",
            f"{EXC}/no-such-job",
        )
    return JSONResponse(flowops.job_results(state, jobId, base))
