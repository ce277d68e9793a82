"""The catalogue as linked data: ``GET /linked-data`` answers Turtle (default) or JSON-LD
(``Accept: application/ld+json``, or ``?f=jsonld``): datasets as DCAT with GeoSPARQL
geometries, applications, platforms and parties, the runs of tasks as PROV-O. Only processes
the public may see are in it (a deployment's visibility list hides the others)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from eotrust.api import flowops
from eotrust.api.links import base_url
from eotrust.errors import BackendUnavailableError

router = APIRouter(tags=["Catalogue"])


class SparqlBusy(BackendUnavailableError):
    """Every slot for SPARQL and the whole catalogue graph is taken: 503, try again shortly."""

    retry_after_s = 1


_F = {
    "ttl": "text/turtle",
    "turtle": "text/turtle",
    "jsonld": "application/ld+json",
    "json-ld": "application/ld+json",
    "nt": "application/n-triples",
    "rdf": "application/rdf+xml",
}


def _signal(request: Request) -> tuple[bytes, int | None]:
    """What the catalogue graph is built from, as the database and the chain hold it now: a
    digest of every row of the catalogue's records, deployments and model packages (whichever
    process wrote them) and the chain's newest block (the tasks' contracts say whose records
    describe a run)."""
    from eotrust.catalog.deployments import DeploymentRow
    from eotrust.catalog.model_records import ModelRow
    from eotrust.errors import EotrustError

    state = request.app.state.eotrust
    rows = state.catalog.fingerprint(DeploymentRow.__table__, ModelRow.__table__)
    try:
        block: int | None = state.chain.block_number()
    except EotrustError:
        block = None  # no chain now: the graph built without one is kept until it is back
    return rows, block


def _build(request: Request) -> Any:
    from eotrust.linked import graph

    state = request.app.state.eotrust
    return graph.catalogue_store(
        state.catalog,
        base_url(request),
        chain=state.chain,
        applications=flowops._deployed_applications(state, None),
        models=state.models(),
    )


#: the name the graph's N-Quads are kept by beside it (SPARQL's child process is fed them)
NQUADS = "application/n-quads"


def public_nquads(request: Request) -> bytes:
    """The catalogue graph of this server as the public sees it, as N-Quads: built and written
    once, and kept until the catalogue or the chain changes (``eotrust.linked.kept``)."""
    from eotrust.linked.sparql import graph_nquads

    nquads: bytes = _kept(request, NQUADS, graph_nquads)
    return nquads


def _kept(request: Request, name: str, write: Callable[[Any], Any]) -> Any:
    """``write(graph)`` of this server's catalogue graph, kept by ``name`` beside the graph
    until the catalogue or the chain changes (``eotrust.linked.kept``)."""
    return request.app.state.eotrust.linked_graphs.answer(
        base_url(request), _signal(request), lambda: _build(request), name, write
    )


@router.get(
    "/linked-data",
    summary="The catalogue as RDF (DCAT, GeoSPARQL, PROV-O): Turtle or JSON-LD",
    responses={200: {"content": {m: {} for m in ("text/turtle", "application/ld+json")}}},
)
def linked_data(
    request: Request, f: str | None = Query(None, description="ttl or jsonld (else the Accept header)")
) -> Response:
    from eotrust.errors import InvalidInputError
    from eotrust.linked.catalog_rdf import PREFIXES
    from eotrust.linked.sparql import GRAPH_TYPES, dump_graph

    if f is not None and f.lower() not in _F:
        raise InvalidInputError(f"unknown format {f!r}", hint="f=ttl or f=jsonld")
    media = (
        _F[f.lower()]
        if f
        else next(
            (
                m.split(";")[0].strip()
                for m in request.headers.get("accept", "").split(",")
                if m.split(";")[0].strip() in GRAPH_TYPES
            ),
            "text/turtle",
        )
    )
    # the whole catalogue, for anyone: one of the SPARQL slots, or 503 at once (no queue)
    slots = request.app.state.eotrust.sparql_slots
    if not slots.acquire(blocking=False):
        raise SparqlBusy("every slot for the catalogue graph and SPARQL is taken", hint="try again in a moment")
    try:
        answer = _kept(request, media, lambda store: dump_graph(store, media, PREFIXES))
    finally:
        slots.release()
    return Response(answer.body, media_type=answer.media_type)
