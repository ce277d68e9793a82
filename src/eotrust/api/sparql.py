"""The SPARQL 1.1 Protocol endpoint ``/sparql`` over the public catalogue graph, with
GeoSPARQL functions (see ``eotrust.linked.sparql``): ``GET ?query=``, ``POST`` as a form
(``query=``) or as ``application/sparql-query``. Results as SPARQL JSON (default), XML, CSV or
TSV; CONSTRUCT/DESCRIBE as Turtle or JSON-LD. ``SERVICE`` reaches only this server's
federation peers (``sparql_peers``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from eotrust.api.bodies import BodyTooLarge, check_declared_length, read_body
from eotrust.api.linked_data import SparqlBusy, public_nquads
from eotrust.errors import InvalidInputError

router = APIRouter(tags=["Catalogue"])

#: the largest POST body read (a query is at most 20,000 characters; a form encodes it longer)
MAX_POST_BYTES = 64 * 1024

_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            m: {}
            for m in (
                "application/sparql-results+json",
                "application/sparql-results+xml",
                "text/csv",
                "text/turtle",
                "application/ld+json",
            )
        }
    }
}


def _answer(request: Request, query: str | None) -> Response:
    """Evaluate a query from anyone, within the server's limits (``sparql_timeout_s``,
    ``sparql_max_answer_mb``, ``sparql_concurrency``): in a child process, at most that many at
    a time; beyond them 503 at once rather than a queue that anyone could fill."""
    from eotrust.linked.catalog_rdf import PREFIXES
    from eotrust.linked.sparql import SparqlLimits, answer_bounded

    if not query or not query.strip():
        raise InvalidInputError("no SPARQL query given", hint="send ?query=SELECT ... or POST it")
    state = request.app.state.eotrust
    settings = state.settings
    slots = state.sparql_slots
    if not slots.acquire(blocking=False):
        raise SparqlBusy(
            f"this server evaluates {settings.sparql_concurrency} SPARQL quer"
            + ("y" if settings.sparql_concurrency == 1 else "ies")
            + " at a time, and all are running",
            hint="try again in a moment",
        )
    try:
        out = answer_bounded(
            lambda: public_nquads(request),
            query,
            peers=list(settings.sparql_peers),
            accept=request.headers.get("accept", ""),
            prefixes=PREFIXES,
            limits=SparqlLimits(
                timeout_s=settings.sparql_timeout_s, max_answer_bytes=settings.sparql_max_answer_mb * 1024 * 1024
            ),
        )
    finally:
        slots.release()
    return Response(out.body, media_type=out.media_type)


@router.get("/sparql", summary="SPARQL query (GeoSPARQL functions; SERVICE to federation peers)", responses=_ANSWERS)
def sparql_get(request: Request, query: str | None = Query(None, max_length=20000)) -> Response:
    return _answer(request, query)


@router.post(
    "/sparql",
    summary="SPARQL query by POST (form or application/sparql-query)",
    responses=_ANSWERS,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/sparql-query": {"schema": {"type": "string"}},
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": {"query": {"type": "string"}}}
                },
            }
        }
    },
)
async def sparql_post(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    check_declared_length(
        request, MAX_POST_BYTES, lambda n: BodyTooLarge(f"the request is {n} bytes; at most {MAX_POST_BYTES} are read")
    )
    body = await read_body(
        request, MAX_POST_BYTES, lambda: BodyTooLarge(f"the request is over {MAX_POST_BYTES} bytes; none is read")
    )
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if ctype == "application/sparql-query":
        query: str | None = text
    elif ctype == "application/x-www-form-urlencoded":
        queries = parse_qs(text).get("query")
        query = queries[0] if queries else None
    else:
        raise InvalidInputError(
            f"cannot read a {ctype or 'untyped'} SPARQL request",
            hint="POST application/sparql-query or a form with query=",
        )
    return await run_in_threadpool(_answer, request, query)
