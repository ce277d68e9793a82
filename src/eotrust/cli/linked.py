"""`eotrust sparql QUERY` and `eotrust linked-data`: the local catalogue as RDF (DCAT,
GeoSPARQL, PROV-O) and SPARQL with GeoSPARQL functions over it, without a server (the same
library the server's ``/sparql`` and ``/linked-data`` use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from eotrust.cli.common import backends_of, echo_text

if TYPE_CHECKING:
    from eotrust.backends import Backends

_RESULTS = {
    "json": "application/sparql-results+json",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "xml": "application/sparql-results+xml",
    "ttl": "text/turtle",
    "jsonld": "application/ld+json",
}
BaseOption = typer.Option("http://localhost:8000", "--base", help="base IRI of the graph (the server's URL)")


def register(app: typer.Typer) -> None:
    app.command("sparql", help="Run a SPARQL query (GeoSPARQL functions) over the local catalogue.")(sparql_cmd)
    app.command("linked-data", help="Print the local catalogue as RDF (Turtle or JSON-LD).")(linked_data_cmd)


def _store(backends: Backends, base: str) -> object:
    from eotrust.linked.graph import catalogue_store

    return catalogue_store(backends.catalog, base, chain=backends.chain)


def sparql_cmd(
    ctx: typer.Context,
    query: str = typer.Argument(
        ..., help="the query; common prefixes (dcat, dct, geo, geof, prov, eot) are predeclared"
    ),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv, tsv, json, xml (CONSTRUCT: ttl, jsonld)"),
    base: str = BaseOption,
) -> None:
    from eotrust.errors import InvalidInputError
    from eotrust.linked.catalog_rdf import PREFIXES
    from eotrust.linked.sparql import answer

    if fmt not in _RESULTS:
        raise InvalidInputError(f"unknown format {fmt!r}", hint=", ".join(_RESULTS))
    backends = backends_of(ctx)
    out = answer(
        lambda: _store(backends, base),  # type: ignore[arg-type,return-value]
        query,
        peers=list(backends.settings.sparql_peers),
        accept=_RESULTS[fmt],
        prefixes=PREFIXES,
    )
    # literals other parties wrote, from this catalogue or a peer's: escaped on a terminal
    echo_text(out.body.decode("utf-8"), nl=not out.body.endswith(b"\n"))


def linked_data_cmd(
    ctx: typer.Context,
    fmt: str = typer.Option("ttl", "--format", "-f", help="ttl or jsonld"),
    base: str = BaseOption,
) -> None:
    from eotrust.errors import InvalidInputError
    from eotrust.linked.catalog_rdf import PREFIXES
    from eotrust.linked.sparql import dump_graph

    if fmt not in ("ttl", "jsonld"):
        raise InvalidInputError(f"unknown format {fmt!r}", hint="ttl or jsonld")
    out = dump_graph(_store(backends_of(ctx), base), _RESULTS[fmt], PREFIXES)  # type: ignore[arg-type]
    echo_text(out.body.decode("utf-8"), nl=False)
