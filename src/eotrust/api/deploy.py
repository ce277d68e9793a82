"""OGC API - Processes - Part 2: Deploy, Replace, Undeploy.

``POST /processes`` deploys an application package (a CWL document as
``application/cwl+yaml``/``application/cwl+json``/``application/cwl``, an OGC application
package ``{processDescription, executionUnit}`` as ``application/json``, or an eotrust
workflow as ``application/x-yaml``), ``PUT /processes/{processId}`` replaces it,
``DELETE /processes/{processId}`` (or ``{processId}:{version}``) undeploys it. Only an
algorithm owner's API key may deploy; the server signs the application record and the
deployment statement with that owner's key (its keystore is under the server's home).
``?version=`` and ``?visibility=public|alice,bob`` (or the package's own fields) say which
version it is and who sees it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from eotrust.api.auth import Caller, require_party
from eotrust.api.links import base_url
from eotrust.api.ogc import ERROR_RESPONSES, EXC, OgcException
from eotrust.api.process_paths import exact_process_id
from eotrust.catalog.deployments import Deployment
from eotrust.catalog.entries import ApplicationInfo, Record
from eotrust.roles.algorithm_owner.deploy import deploy, parse_package_request, undeploy

router = APIRouter(tags=["Processes"])

MAX_PACKAGE_BYTES = 2 * 1024 * 1024
PACKAGE_TYPES = (
    "application/cwl",
    "application/cwl+yaml",
    "application/cwl+json",
    "application/json",
    "application/x-yaml",
    "application/yaml",
    "text/yaml",
)
_BODY = {
    "required": True,
    "content": {t: {"schema": {"type": "object" if t == "application/json" else "string"}} for t in PACKAGE_TYPES},
}
_RESP: dict[int | str, dict[str, Any]] = {
    400: ERROR_RESPONSES[400],
    401: ERROR_RESPONSES[401],
    403: ERROR_RESPONSES[403],
    409: {"model": OgcException, "description": "this process id and version is already deployed"},
}


async def _package(request: Request, process: str | None, version: str | None, visibility: str | None) -> Any:
    from eotrust.api.bodies import BodyTooLarge, check_declared_length, read_body
    from eotrust.errors import InvalidInputError

    check_declared_length(
        request,
        MAX_PACKAGE_BYTES,
        lambda n: BodyTooLarge(f"the package is {n} bytes; at most {MAX_PACKAGE_BYTES} are accepted"),
    )
    body = await read_body(
        request,
        MAX_PACKAGE_BYTES,
        lambda: BodyTooLarge(f"the package is over {MAX_PACKAGE_BYTES} bytes; at most that many are accepted"),
    )
    ctype = request.headers.get("content-type", "application/cwl+yaml")
    if ctype.split(";")[0].strip().lower() not in PACKAGE_TYPES:
        raise InvalidInputError(f"cannot deploy a {ctype} body", hint=f"send one of {', '.join(PACKAGE_TYPES)}")
    # parsing and packing (cwltool) take a while: off the event loop, which serves everyone
    return await run_in_threadpool(
        parse_package_request,
        body,
        ctype,
        process=process,
        version=version,
        visibility=visibility.split(",") if visibility else None,
    )


def _summary(base: str, record: Record[ApplicationInfo], dep: Deployment) -> dict[str, Any]:
    pid = record.body.name
    return {
        "id": pid,
        "version": record.body.version,
        "title": pid,
        "description": record.body.description,
        "visibility": dep.visibility,
        "application": record.id,
        "package": record.body.workflow_cid,
        "links": [{"href": f"{base}/processes/{pid}", "rel": "self", "type": "application/json"}],
    }


@router.post(
    "/processes",
    status_code=201,
    summary="Deploy an application package (OGC API - Processes - Part 2)",
    openapi_extra={"requestBody": _BODY},
    responses=_RESP,
)
async def deploy_process(
    request: Request,
    caller: Caller = Depends(require_party),
    version: str | None = Query(None, max_length=50, description="the version (default: the package's, or 1.0.0)"),
    visibility: str | None = Query(None, max_length=2000, description="'public' or comma-separated party names"),
    id_: str | None = Query(None, alias="id", max_length=100, description="the process id (default: the package's)"),
) -> JSONResponse:
    state = request.app.state.eotrust
    req = await _package(request, id_, version, visibility)
    party = await run_in_threadpool(state.load_party, caller.party)  # unlocks a keystore (scrypt)
    record, dep = await run_in_threadpool(
        deploy, party, req, catalog=state.catalog, deployments=state.deployments, store=state.store
    )
    base = base_url(request)
    return JSONResponse(
        _summary(base, record, dep), status_code=201, headers={"Location": f"{base}/processes/{record.body.name}"}
    )


@router.put(
    "/processes/{processId}",
    status_code=204,
    summary="Replace a deployed process (Part 2)",
    openapi_extra={"requestBody": _BODY},
    responses={**_RESP, 404: ERROR_RESPONSES[404]},
)
async def replace_process(
    request: Request,
    processId: str = Path(..., min_length=1, max_length=100),
    caller: Caller = Depends(require_party),
    version: str | None = Query(None, max_length=50),
    visibility: str | None = Query(None, max_length=2000),
) -> Response:
    state = request.app.state.eotrust
    processId = exact_process_id(request, processId)  # a name with a `/` (eotrust.api.process_paths)
    req = await _package(request, processId, version, visibility)
    party = await run_in_threadpool(state.load_party, caller.party)
    await run_in_threadpool(
        deploy,
        party,
        req,
        catalog=state.catalog,
        deployments=state.deployments,
        store=state.store,
        replace=processId,
    )
    return Response(status_code=204)


@router.delete(
    "/processes/{processId}",
    status_code=204,
    summary="Undeploy a process, or one version as id:version",
    responses={401: ERROR_RESPONSES[401], 403: ERROR_RESPONSES[403], 404: ERROR_RESPONSES[404]},
)
def undeploy_process(
    request: Request, processId: str = Path(..., min_length=1, max_length=160), caller: Caller = Depends(require_party)
) -> Response:
    state = request.app.state.eotrust
    process = exact_process_id(request, processId)  # a name with a `/` (eotrust.api.process_paths)
    undeploy(state.load_party(caller.party), process, deployments=state.deployments)
    return Response(status_code=204)


__all__ = ["router", "EXC"]
