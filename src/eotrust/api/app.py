"""The eotrust HTTP server: one FastAPI application built from Settings.

Everything the routes need lives in ``app.state`` (settings, store, catalogue, chain…),
built once here; there are no module globals. Routers, one module per concern:

- ``landing``: OGC API landing page and conformance
- ``processes`` / ``jobs``: OGC API - Processes - Part 1: Core over published workflows and ledger tasks
- ``stac``: STAC API (core + item search) over datasets, model packages and results
- ``tasks``, ``catalog_routes``, ``store_routes``: the party REST API (API keys, see ``auth``)
- ``predict`` (model engineer): model scoring
- ``web``: the static web page
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from eotrust import __version__
from eotrust.api.bodies import JsonBodyGuard
from eotrust.api.errors import install_error_handlers
from eotrust.api.process_paths import RawProcessIds
from eotrust.api.security_headers import SecurityHeaders
from eotrust.api.state import ServerState
from eotrust.settings import Settings

# The router modules, in the order they are mounted; each has ``router`` or ``mount(app)``.
# Every module listed must import: a broken one fails create_app (and
# tests/api/test_routers_registered.py), never goes silently missing.
ROUTERS: tuple[str, ...] = (
    "landing",
    "processes",
    "deploy",
    "jobs_management",
    "jobs",
    "stac",
    "catalog_routes",
    "linked_data",
    "sparql",
    "tasks",
    "store_routes",
    "key_proof",
    "predict",
    "render",
    "web",
    "docs_page",
    "results_routes",
    "market_routes",
)

TAGS: list[dict[str, Any]] = [
    {"name": "Landing", "description": "OGC API landing page and conformance"},
    {"name": "Processes", "description": "OGC API - Processes - Part 1: Core (published workflows)"},
    {"name": "Jobs", "description": "OGC API - Processes jobs (ledger tasks)"},
    {"name": "STAC", "description": "STAC API core and item search"},
    {"name": "Catalogue", "description": "catalogue of datasets, applications and platforms"},
    {"name": "Tasks", "description": "ledger tasks, acting as a party (API key)"},
    {"name": "Store", "description": "content-addressed store, by CID"},
    {"name": "Keys", "description": "API keys minted by a party's signature over a server challenge"},
    {"name": "Models", "description": "model packages and prediction"},
    {"name": "Market", "description": "OGC quotations and bills: signed quotes, usage and payment"},
]


def create_app(settings: Settings, *, dev_autoack: bool = False, run_nodes: bool = False) -> FastAPI:
    """Build the server for ``settings``.

    ``dev_autoack``: parties whose keystores this server holds (under the home) answer requests
    addressed to them automatically — a development/demo mode, never for production.
    ``run_nodes``: run the platform runner/collector inside the server process.
    """
    app = FastAPI(
        title="eotrust",
        version=__version__,
        description=(
            "Trusted, decentralised deep learning on Earth-observation data: OGC API - Processes, "
            "STAC API, the party REST API (API keys) and a web page."
        ),
        openapi_tags=TAGS,
        docs_url=None,  # /api.html: eotrust.api.docs_page, Swagger UI from local files
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.eotrust = ServerState(settings, dev_autoack=dev_autoack, run_nodes=run_nodes)
    install_error_handlers(app)
    for name in ROUTERS:
        module = importlib.import_module(f"eotrust.api.{name}")
        mount = getattr(module, "mount", None)
        if mount is not None:
            mount(app)
        else:
            app.include_router(module.router)

    # a process id is routed as its client encoded it: /processes/team%2Fshout is `team/shout`
    app.add_middleware(RawProcessIds)
    # every JSON body is measured before it is parsed (issue 12)
    app.add_middleware(JsonBodyGuard)
    # nosniff, no framing, no referrer on every answer; the page's Content Security Policy
    app.add_middleware(SecurityHeaders)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


GEOJSON_OPERATIONS = {
    ("/stac/search", "get"),
    ("/stac/search", "post"),
    ("/stac/collections/{collection_id}/items", "get"),
    ("/stac/collections/{collection_id}/items/{item_id}", "get"),
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI document, made to say what the server really answers: invalid
    requests are 400 with an OGC exception body (not FastAPI's 422), a path with parameters can
    be 404, STAC items and searches are ``application/geo+json``."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    from eotrust.api.ogc import OgcException

    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("OgcException", OgcException.model_json_schema(ref_template="#/components/schemas/{model}"))
    problem = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/OgcException"}}}}
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault("400", {"description": "invalid request", **problem})
            if "{" in path:
                responses.setdefault("404", {"description": "no such resource", **problem})
            if op.get("security"):
                responses.setdefault("401", {"description": "missing or unknown API key", **problem})
                responses.setdefault("403", {"description": "the API key's party may not do this", **problem})
            if (path, method) in GEOJSON_OPERATIONS:
                ok = responses.get("200", {})
                body = ok.get("content", {}).pop("application/json", {"schema": {"type": "object"}})
                ok.setdefault("content", {})["application/geo+json"] = body
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    app.openapi_schema = doc
    return doc


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServerState = app.state.eotrust
    state.start()
    try:
        yield
    finally:
        state.stop()
