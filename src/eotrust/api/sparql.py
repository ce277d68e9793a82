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

from eotrust.api.linked_data import public_store
from eotrust.errors import InvalidInputError

router = APIRouter(tags=["Catalogue"])

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
    from eotrust.linked.catalog_rdf import PREFIXES
    from eotrust.linked.sparql import answer

    if not query or not query.strip():
        raise InvalidInputError("no SPARQL query given", hint="send ?query=SELECT ... or POST it")
    state = request.app.state.eotrust
    out = answer(
        lambda: public_store(request),
        query,
        peers=list(state.settings.sparql_peers),
        accept=request.headers.get("accept", ""),
        prefixes=PREFIXES,
    )
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

    body = await request.body()
    if len(body) > 40000:
        raise InvalidInputError("the query is too long")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if ctype == "application/sparql-query":
        return await run_in_threadpool(_answer, request, text)
    if ctype == "application/x-www-form-urlencoded":
        queries = parse_qs(text).get("query")
        return await run_in_threadpool(_answer, request, queries[0] if queries else None)
    raise InvalidInputError(
        f"cannot read a {ctype or 'untyped'} SPARQL request", hint="POST application/sparql-query or a form with query="
    )
