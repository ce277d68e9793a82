"""Job management in Weaver's shape: ``GET /jobs`` with filters (process, status, datetime,
page, limit, sort), ``/jobs/{jobId}/inputs``, ``/jobs/{jobId}/logs`` (JSON list of lines, or
``text/plain``), ``/jobs/{jobId}/prov`` (the run's PROV-JSON), ``/jobs/{jobId}/statistics``.
Only the parties of a job may read its details; the list holds the caller's own jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from eotrust.api import flowops, job_details
from eotrust.api.auth import Caller, require_party
from eotrust.api.links import base_url
from eotrust.api.ogc import ERROR_RESPONSES, JobList

router = APIRouter(tags=["Jobs"])

JobId = Path(..., min_length=1, max_length=100, description="the job id: the task's contract address")
_ERR: dict[int | str, dict[str, Any]] = {
    401: ERROR_RESPONSES[401],
    403: ERROR_RESPONSES[403],
    404: ERROR_RESPONSES[404],
}


class JobPage(JobList):
    """A page of jobs (Weaver adds the total, the page and the limit)."""

    total: int
    page: int
    limit: int


@router.get(
    "/jobs",
    response_model=JobPage,
    response_model_exclude_none=True,
    summary="The caller's jobs, filtered, sorted and paged",
    responses={401: ERROR_RESPONSES[401], 403: ERROR_RESPONSES[403]},
)
def list_jobs(
    request: Request,
    caller: Caller = Depends(require_party),
    process: str | None = Query(None, max_length=200, description="only jobs of this process"),
    status: str | None = Query(None, max_length=200, description="comma-separated statuses"),
    datetime: str | None = Query(None, max_length=100, description="creation instant or interval a/b ('..' open)"),
    page: int = Query(0, ge=0, le=100000),
    limit: int = Query(10, ge=1, le=1000),
    sort: str = Query("-created", description="created, -created, status or process"),
) -> dict[str, Any]:
    query = job_details.parse_query(process, status, datetime, page, limit, sort)
    return job_details.list_jobs(request.app.state.eotrust, caller, query, base_url(request))


def _party(request: Request, caller: Caller, job: str) -> Any:
    state = request.app.state.eotrust
    flowops.ensure_job_party(state, caller, job)
    return state


@router.get("/jobs/{jobId}/inputs", summary="The inputs a job was opened with", responses=_ERR)
def job_inputs(request: Request, jobId: str = JobId, caller: Caller = Depends(require_party)) -> dict[str, Any]:
    return job_details.job_inputs(_party(request, caller, jobId), jobId, base_url(request))


@router.get(
    "/jobs/{jobId}/logs",
    summary="A job's log lines (ledger events, then each step's log)",
    responses={**_ERR, 200: {"content": {"application/json": {}, "text/plain": {}}}},
)
def job_logs(request: Request, jobId: str = JobId, caller: Caller = Depends(require_party)) -> Response:
    lines = job_details.job_logs(_party(request, caller, jobId), jobId)
    if "text/plain" in request.headers.get("accept", ""):
        return PlainTextResponse("\n".join(lines) + "\n")
    return JSONResponse(lines)


@router.get("/jobs/{jobId}/prov", summary="The run's W3C PROV document (PROV-JSON)", responses=_ERR)
def job_prov(request: Request, jobId: str = JobId, caller: Caller = Depends(require_party)) -> JSONResponse:
    return JSONResponse(job_details.job_prov(_party(request, caller, jobId), jobId), media_type="application/json")


@router.get("/jobs/{jobId}/statistics", summary="Durations, cache hits and output sizes of a job's run", responses=_ERR)
def job_statistics(request: Request, jobId: str = JobId, caller: Caller = Depends(require_party)) -> dict[str, Any]:
    return job_details.job_statistics(_party(request, caller, jobId), jobId)
