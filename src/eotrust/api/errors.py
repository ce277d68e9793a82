"""How eotrust errors become HTTP responses: one JSON body (OGC API exception shape:
``type``, ``title``, ``status``, ``detail``) with the status code the error class implies."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from eotrust import errors as E

log = logging.getLogger("eotrust.api")

OGC_EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0"

# Most specific first.
STATUS_OF: tuple[tuple[type[E.EotrustError], int], ...] = (
    (E.AuthError, 401),
    (E.PermissionDeniedError, 403),
    (E.NotFoundError, 404),
    (E.StateError, 409),
    (E.InvalidInputError, 400),
    (E.IntegrityError, 422),
    (E.CryptoError, 422),
    (E.BackendUnavailableError, 503),
    (E.ConfigError, 500),
)


def status_of(exc: E.EotrustError) -> int:
    if exc.http_status is not None:
        return exc.http_status
    for cls, code in STATUS_OF:
        if isinstance(exc, cls):
            return code
    return 400


def problem(status: int, title: str, detail: str | None = None, type_: str | None = None) -> JSONResponse:
    """An OGC/RFC 7807 style exception body."""
    body: dict[str, object] = {"type": type_ or "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key", Bearer'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/json", headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(E.EotrustError)
    async def _eotrust_error(_request: Request, exc: E.EotrustError) -> JSONResponse:
        code = status_of(exc)
        kind = type(exc).__name__
        detail = exc.message + (f" ({exc.hint})" if exc.hint else "")
        response = problem(code, kind, detail, exc.ogc_type)
        if exc.retry_after_s is not None:
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, _exc: ClientDisconnect) -> Response:
        # the client left (or was cut off by the connection limits) before its body was read:
        # no one to answer, nothing went wrong here
        log.info("client went away before its request was complete: %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s", _request.url.path)
        return problem(500, "InternalServerError", f"{type(exc).__name__}: the server failed; see its log")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(x) for x in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg')}")
        return problem(
            400, "InvalidParameterValue", "; ".join(parts) or "invalid request", f"{OGC_EXC}/invalid-parameter-value"
        )
