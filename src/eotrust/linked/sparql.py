"""SPARQL over the catalogue graph, with GeoSPARQL.

pyoxigraph evaluates SPARQL 1.1 and the GeoSPARQL simple-features relations natively
(``geof:sfIntersects``, ``sfWithin``, ``sfContains``, ``sfTouches``, ``sfOverlaps``,
``sfDisjoint``, ``sfEquals``, ``sfCrosses``, the Egenhofer and RCC8 families, ``geof:envelope``);
the measuring functions it lacks — ``geof:distance``, ``geof:area``, ``geof:buffer`` — are
registered here over shapely (pyproj's WGS84 ellipsoid for metres and square metres).

Federation: ``SERVICE <endpoint>`` is evaluated by pyoxigraph's HTTP client, but only towards
the endpoints listed in ``Settings.sparql_peers``: a public endpoint that fetched any URL a
query names would let anyone make this server call into its own network. A query that names
another endpoint, or a SERVICE by variable, is refused before it runs; queries are read-only
(pyoxigraph's ``query`` evaluates no updates)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyoxigraph as ox

from eotrust.errors import InvalidInputError, PermissionDeniedError
from eotrust.limits import json_loads

GEOF = "http://www.opengis.net/def/function/geosparql/"
UOM = "http://www.opengis.net/def/uom/OGC/1.0/"
WKT = "http://www.opengis.net/ont/geosparql#wktLiteral"
XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"
MAX_QUERY_CHARS = 20000

_SERVICE = re.compile(r"\bSERVICE\b\s*(SILENT\b\s*)?(\S+)", re.IGNORECASE)


class SparqlError(InvalidInputError):
    """The query is not valid SPARQL, or cannot be evaluated."""


@dataclass(frozen=True)
class SparqlAnswer:
    """A serialised answer: its bytes and media type."""

    body: bytes
    media_type: str


def _geometry(term: Any) -> Any:
    from shapely import wkt

    if not isinstance(term, ox.Literal):
        raise ValueError("not a literal")
    text = term.value.strip()
    if text.startswith("<"):
        text = text[text.index(">") + 1 :].strip()
    return wkt.loads(text)


def _double(value: float) -> ox.Literal:
    return ox.Literal(repr(float(value)), datatype=ox.NamedNode(XSD_DOUBLE))


def _geodesic_distance(a: Any, b: Any) -> float:
    from pyproj import Geod
    from shapely.ops import nearest_points

    p, q = nearest_points(a, b)
    return float(Geod(ellps="WGS84").inv(p.x, p.y, q.x, q.y)[2])


def _distance(a: Any, b: Any, unit: Any = None) -> ox.Literal | None:
    try:
        ga, gb = _geometry(a), _geometry(b)
    except Exception:  # noqa: BLE001 - a non-geometry argument leaves the result unbound, as SPARQL errors do
        return None
    uom = unit.value if isinstance(unit, ox.NamedNode) else UOM + "degree"
    if uom in (UOM + "metre", UOM + "meter"):
        return _double(_geodesic_distance(ga, gb))
    if uom == UOM + "degree":
        return _double(ga.distance(gb))
    return None


def _area(a: Any, unit: Any = None) -> ox.Literal | None:
    try:
        geom = _geometry(a)
    except Exception:  # noqa: BLE001
        return None
    uom = unit.value if isinstance(unit, ox.NamedNode) else UOM + "degree"
    if uom in (UOM + "metre", UOM + "meter", UOM + "squareMetre"):
        from pyproj import Geod

        return _double(abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0]))
    return _double(geom.area)


def _buffer(a: Any, radius: Any, unit: Any = None) -> ox.Literal | None:
    try:
        geom = _geometry(a)
        r = float(radius.value)
    except Exception:  # noqa: BLE001
        return None
    uom = unit.value if isinstance(unit, ox.NamedNode) else UOM + "degree"
    if uom != UOM + "degree":
        return None  # metric buffers need a projection; unbound rather than wrong
    return ox.Literal(
        f"<http://www.opengis.net/def/crs/OGC/1.3/CRS84> {geom.buffer(r).wkt}", datatype=ox.NamedNode(WKT)
    )


CUSTOM_FUNCTIONS: dict[ox.NamedNode, Callable[..., Any]] = {
    ox.NamedNode(GEOF + "distance"): _distance,
    ox.NamedNode(GEOF + "area"): _area,
    ox.NamedNode(GEOF + "buffer"): _buffer,
}


def check_services(query: str, peers: list[str]) -> list[str]:
    """The endpoints a query reaches with SERVICE; PermissionDeniedError for any not in ``peers``."""
    allowed = {p.rstrip("/") for p in peers}
    reached = []
    for match in _SERVICE.finditer(query):
        target = match.group(2)
        if not (target.startswith("<") and ">" in target):
            raise PermissionDeniedError(
                "SERVICE must name its endpoint as a full <IRI>",
                hint="variables and prefixed names are not federated from here",
            )
        iri = target[1 : target.index(">")].rstrip("/")
        if iri not in allowed:
            raise PermissionDeniedError(
                f"SERVICE {iri} is not a federation peer of this server",
                hint="its operator lists peers in sparql_peers (EOTRUST_SPARQL_PEERS)",
            )
        reached.append(iri)
    return reached


def run_query(store: ox.Store, query: str, *, peers: list[str], prefixes: dict[str, str] | None = None) -> Any:
    """Evaluate a read-only SPARQL query on ``store``."""
    if len(query) > MAX_QUERY_CHARS:
        raise SparqlError(f"the query is {len(query)} characters; at most {MAX_QUERY_CHARS} are accepted")
    check_services(query, peers)
    try:
        return store.query(query, prefixes=prefixes, custom_functions=CUSTOM_FUNCTIONS, use_default_graph_as_union=True)
    except SyntaxError as exc:
        raise SparqlError(f"invalid SPARQL: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise SparqlError(
            f"the query failed: {str(exc).splitlines()[0]}", hint="a SERVICE endpoint may be down"
        ) from None


_RESULT_TYPES = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
_GRAPH_TYPES = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}


def _pick(accept: str, table: dict[str, Any], default: str) -> str:
    wanted = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
    for media in wanted:
        if media in table:
            return media
    return default


def serialise(result: Any, accept: str) -> SparqlAnswer:
    """The answer in the best format the Accept header names (SPARQL 1.1 Protocol)."""
    buf = io.BytesIO()
    media = serialise_to(result, accept, buf)
    return SparqlAnswer(buf.getvalue(), media)


def serialise_to(result: Any, accept: str, output: BinaryIO) -> str:
    """Stream the answer to ``output`` in the best format the Accept header names; its media type."""
    if isinstance(result, ox.QueryTriples):
        media = _pick(accept, _GRAPH_TYPES, "text/turtle")
        result.serialize(output, format=_GRAPH_TYPES[media])
        return media
    media = _pick(accept, _RESULT_TYPES, "application/sparql-results+json")
    if media == "application/json":
        media = "application/sparql-results+json"
    result.serialize(output, format=_RESULT_TYPES[media])
    return media


@dataclass(frozen=True)
class SparqlLimits:
    """What one query may use (``Settings.sparql_*``): wall time (its process is killed then),
    the answer's size, and the memory (address space) and CPU time of its process."""

    timeout_s: float
    max_answer_bytes: int
    max_memory_mb: int = 2048

    @property
    def max_cpu_s(self) -> int:
        return int(self.timeout_s) + 2


class SparqlLimitExceeded(SparqlError):
    """A query stopped at one of :class:`SparqlLimits`."""


def graph_nquads(store: ox.Store) -> bytes:
    """The whole graph as N-Quads: what :func:`answer_bounded` feeds its child process."""
    return store.dump(format=ox.RdfFormat.N_QUADS) or b""


def answer_bounded(
    nquads: Callable[[], bytes],
    query: str,
    *,
    peers: list[str],
    accept: str,
    limits: SparqlLimits,
    prefixes: dict[str, str] | None = None,
) -> SparqlAnswer:
    """:func:`answer` for queries from anyone: evaluated in a child process
    (``eotrust.linked.sparql_worker``) with a deadline, a memory and CPU limit and a cap on the
    answer's size, so that no query can hold a core, the memory or the disk of the process that
    asked. A query stopped by a limit is :class:`SparqlLimitExceeded`, naming the limit.

    ``nquads()`` gives the graph as N-Quads (:func:`graph_nquads`), called only once the query
    passed its checks: a server keeps them beside its graph (``eotrust.linked.kept``) rather
    than writing the whole graph out again for each query."""
    if len(query) > MAX_QUERY_CHARS:
        raise SparqlError(f"the query is {len(query)} characters; at most {MAX_QUERY_CHARS} are accepted")
    check_services(query, peers)
    graph = nquads()
    header = {
        "query": query,
        "peers": peers,
        "accept": accept,
        "prefixes": prefixes or {},
        "max_memory_mb": limits.max_memory_mb,
        "max_cpu_s": limits.max_cpu_s,
        "max_answer_bytes": limits.max_answer_bytes + 1,
    }
    with tempfile.TemporaryDirectory(prefix="eotrust-sparql-") as tmp:
        out_path, err_path = Path(tmp) / "answer", Path(tmp) / "said"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "eotrust.linked.sparql_worker"],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                # nothing of the server's configuration (a passphrase) reaches the child
                env={k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_")},
            )
            try:
                proc.communicate(json.dumps(header).encode() + b"\n" + graph, timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise _over_time(limits) from None
            finally:
                if proc.poll() is None:  # interrupted otherwise (a KeyboardInterrupt): no orphan
                    proc.kill()
                    proc.wait()
        said = _last_json_line(err_path)
        size = out_path.stat().st_size
        if proc.returncode == 0 and said.get("kind") == "answer" and size <= limits.max_answer_bytes:
            return SparqlAnswer(out_path.read_bytes(), str(said["media_type"]))
        if size > limits.max_answer_bytes or proc.returncode == -signal.SIGXFSZ:
            raise SparqlLimitExceeded(
                f"the answer is larger than this server's {_mib(limits.max_answer_bytes)} limit",
                hint="add LIMIT (and OFFSET to page through it), or select fewer variables",
            )
        if proc.returncode == -signal.SIGXCPU:
            raise _over_time(limits)
        if said.get("kind") == "denied":
            raise PermissionDeniedError(str(said.get("message", "the query was refused")))
        if said.get("kind") in ("invalid", "failed"):
            raise SparqlError(str(said.get("message", "the query failed")))
        raise SparqlLimitExceeded(
            f"the query stopped without an answer (it may have needed more than {limits.max_memory_mb} MiB)",
            hint="narrow its patterns, or add LIMIT",
        )


def _over_time(limits: SparqlLimits) -> SparqlLimitExceeded:
    return SparqlLimitExceeded(
        f"the query ran past this server's {limits.timeout_s:g} s limit and was stopped",
        hint="narrow its patterns, or add LIMIT",
    )


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def _last_json_line(path: Path) -> dict[str, Any]:
    """The last line the worker wrote on stderr, as JSON (an empty dict when there is none)."""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 8192))
        lines = f.read().splitlines()
    for line in reversed(lines):
        if line.startswith(b"{"):
            try:
                value = json_loads(line)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def answer(
    build: Callable[[], ox.Store], query: str, *, peers: list[str], accept: str, prefixes: dict[str, str] | None = None
) -> SparqlAnswer:
    """Build the store, evaluate, serialise, and drop every pyoxigraph object before returning:
    they may not cross threads, so none may outlive this call (not even in a traceback)."""
    check_services(query, peers)
    store = build()
    try:
        result = run_query(store, query, peers=peers, prefixes=prefixes)
        try:
            return serialise(result, accept)
        finally:
            del result
    finally:
        del store


def dump_graph(store: ox.Store, media: str, prefixes: dict[str, str]) -> SparqlAnswer:
    """The whole graph as Turtle or JSON-LD (or N-Triples, RDF/XML)."""
    media = media if media in _GRAPH_TYPES else "text/turtle"
    fmt = _GRAPH_TYPES[media]
    kwargs: dict[str, Any] = {"format": fmt, "from_graph": ox.DefaultGraph()}
    if fmt in (ox.RdfFormat.TURTLE, ox.RdfFormat.RDF_XML):
        kwargs["prefixes"] = prefixes
    return SparqlAnswer(store.dump(**kwargs) or b"", media)


GRAPH_TYPES = tuple(_GRAPH_TYPES)
RESULT_TYPES = tuple(_RESULT_TYPES)
