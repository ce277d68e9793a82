"""The catalogue as RDF: datasets (DCAT, with GeoSPARQL geometries), applications
(DCAT data services that are PROV plans), platforms and parties (PROV agents), model packages,
and the runs platforms recorded for tasks (PROV activities that generated result entities).

Subjects are IRIs under the server's base URL (``{base}/catalog/records/{id}``,
``{base}/store/{cid}``), so two servers' graphs join on the same CIDs and record ids, and a
federated query across them (``SERVICE``) lines up. Built with pyoxigraph terms straight into
a pyoxigraph store, which serialises it as Turtle or JSON-LD and answers SPARQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox

from eotrust.catalog.entries import ApplicationInfo, DatasetInfo, PlatformInfo, Record, ResultInfo, TaskInfo

if TYPE_CHECKING:
    from eotrust.ml.registry import ModelEntry

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
GEO = "http://www.opengis.net/ont/geosparql#"
PROV = "http://www.w3.org/ns/prov#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
FOAF = "http://xmlns.com/foaf/0.1/"
EOT = "https://eotrust.example/ns#"
CRS84 = "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"

PREFIXES = {
    "dcat": DCAT,
    "dct": DCT,
    "geo": GEO,
    "prov": PROV,
    "rdf": RDF,
    "rdfs": RDFS,
    "xsd": XSD,
    "foaf": FOAF,
    "eot": EOT,
    "geof": "http://www.opengis.net/def/function/geosparql/",
}


def _n(ns: str, local: str) -> ox.NamedNode:
    return ox.NamedNode(ns + local)


A = _n(RDF, "type")


def _lit(value: Any, datatype: str | None = None) -> ox.Literal:
    if datatype is not None:
        return ox.Literal(str(value), datatype=ox.NamedNode(datatype))
    if isinstance(value, bool):
        return ox.Literal("true" if value else "false", datatype=ox.NamedNode(XSD + "boolean"))
    if isinstance(value, int):
        return ox.Literal(str(value), datatype=ox.NamedNode(XSD + "integer"))
    if isinstance(value, float):
        return ox.Literal(repr(value), datatype=ox.NamedNode(XSD + "double"))
    return ox.Literal(str(value))


def bbox_wkt(bbox: Iterable[float]) -> str:
    """A WGS84 bbox (west, south, east, north) as a GeoSPARQL WKT polygon in CRS84."""
    w, s, e, n = (float(v) for v in bbox)
    return f"{CRS84} POLYGON(({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"


@dataclass(frozen=True)
class Iris:
    """How this server names things."""

    base: str

    def record(self, record_id: str) -> ox.NamedNode:
        return ox.NamedNode(f"{self.base}/catalog/records/{record_id}")

    def cid(self, cid: str) -> ox.NamedNode:
        return ox.NamedNode(f"{self.base}/store/{cid}")

    def agent(self, address: str) -> ox.NamedNode:
        return ox.NamedNode(f"{self.base}/parties/{address.lower()}")

    def task(self, address: str) -> ox.NamedNode:
        return ox.NamedNode(f"{self.base}/jobs/{address}")

    def run(self, cid: str) -> ox.NamedNode:
        return ox.NamedNode(f"{self.base}/runs/{cid}")

    def model(self, cid: str) -> ox.NamedNode:
        return ox.NamedNode(f"{self.base}/models/{cid}")


def _agent(iris: Iris, address: str) -> Iterator[ox.Triple]:
    node = iris.agent(address)
    yield ox.Triple(node, A, _n(PROV, "Agent"))
    yield ox.Triple(node, A, _n(FOAF, "Agent"))
    yield ox.Triple(node, _n(EOT, "address"), _lit(address))


def dataset_triples(iris: Iris, record: Record[DatasetInfo]) -> Iterator[ox.Triple]:
    body = record.body
    node = iris.record(record.id)
    yield ox.Triple(node, A, _n(DCAT, "Dataset"))
    yield ox.Triple(node, A, _n(GEO, "Feature"))
    yield ox.Triple(node, _n(DCT, "identifier"), _lit(record.id))
    yield ox.Triple(node, _n(DCT, "title"), _lit(body.title))
    if body.description:
        yield ox.Triple(node, _n(DCT, "description"), _lit(body.description))
    yield ox.Triple(node, _n(DCT, "issued"), _lit(record.created, XSD + "dateTime"))
    yield ox.Triple(node, _n(DCT, "publisher"), iris.agent(record.owner))
    yield from _agent(iris, record.owner)
    yield ox.Triple(node, _n(DCT, "license"), _lit(body.licence))
    yield ox.Triple(node, _n(EOT, "cid"), _lit(body.cid))
    for kw in body.keywords:
        yield ox.Triple(node, _n(DCAT, "keyword"), _lit(kw))
    for band in body.bands:
        yield ox.Triple(node, _n(EOT, "band"), _lit(band))
    dist = ox.NamedNode(f"{node.value}#distribution")
    yield ox.Triple(node, _n(DCAT, "distribution"), dist)
    yield ox.Triple(dist, A, _n(DCAT, "Distribution"))
    yield ox.Triple(dist, _n(DCAT, "mediaType"), _lit(body.media_type))
    yield ox.Triple(dist, _n(DCAT, "byteSize"), _lit(body.size, XSD + "nonNegativeInteger"))
    yield ox.Triple(dist, _n(EOT, "cid"), _lit(body.cid))
    if body.start or body.end:
        period = ox.NamedNode(f"{node.value}#period")
        yield ox.Triple(node, _n(DCT, "temporal"), period)
        yield ox.Triple(period, A, _n(DCT, "PeriodOfTime"))
        if body.start:
            yield ox.Triple(period, _n(DCAT, "startDate"), _lit(body.start, XSD + "dateTime"))
        if body.end:
            yield ox.Triple(period, _n(DCAT, "endDate"), _lit(body.end, XSD + "dateTime"))
    if body.bbox is not None:
        geom = ox.NamedNode(f"{node.value}#geometry")
        yield ox.Triple(node, _n(GEO, "hasGeometry"), geom)
        yield ox.Triple(node, _n(DCT, "spatial"), geom)
        yield ox.Triple(geom, A, _n(GEO, "Geometry"))
        yield ox.Triple(geom, _n(GEO, "asWKT"), _lit(bbox_wkt(body.bbox), GEO + "wktLiteral"))
        yield ox.Triple(node, _n(DCAT, "bbox"), _lit(bbox_wkt(body.bbox), GEO + "wktLiteral"))


def application_triples(iris: Iris, record: Record[ApplicationInfo]) -> Iterator[ox.Triple]:
    body = record.body
    node = iris.record(record.id)
    yield ox.Triple(node, A, _n(DCAT, "DataService"))
    yield ox.Triple(node, A, _n(PROV, "Plan"))
    yield ox.Triple(node, _n(DCT, "identifier"), _lit(record.id))
    yield ox.Triple(node, _n(DCT, "title"), _lit(body.name))
    yield ox.Triple(node, _n(DCT, "hasVersion"), _lit(body.version))
    if body.description:
        yield ox.Triple(node, _n(DCT, "description"), _lit(body.description))
    yield ox.Triple(node, _n(DCT, "issued"), _lit(record.created, XSD + "dateTime"))
    yield ox.Triple(node, _n(DCT, "creator"), iris.agent(record.owner))
    yield from _agent(iris, record.owner)
    yield ox.Triple(node, _n(EOT, "package"), iris.cid(body.workflow_cid))
    yield ox.Triple(iris.cid(body.workflow_cid), A, _n(PROV, "Entity"))
    for kw in body.keywords:
        yield ox.Triple(node, _n(DCAT, "keyword"), _lit(kw))
    for name in body.inputs:
        yield ox.Triple(node, _n(EOT, "input"), _lit(name))
    for name in body.outputs:
        yield ox.Triple(node, _n(EOT, "output"), _lit(name))


def platform_triples(iris: Iris, record: Record[PlatformInfo]) -> Iterator[ox.Triple]:
    body = record.body
    node = iris.record(record.id)
    yield ox.Triple(node, A, _n(EOT, "Platform"))
    yield ox.Triple(node, A, _n(PROV, "Agent"))
    yield ox.Triple(node, _n(DCT, "title"), _lit(body.name))
    yield ox.Triple(node, _n(DCT, "identifier"), _lit(record.id))
    yield ox.Triple(node, _n(PROV, "actedOnBehalfOf"), iris.agent(record.owner))
    yield from _agent(iris, record.owner)
    yield ox.Triple(node, _n(EOT, "cpus"), _lit(body.cpus))
    yield ox.Triple(node, _n(EOT, "memoryMb"), _lit(body.memory_mb))
    yield ox.Triple(node, _n(EOT, "gpus"), _lit(body.gpus))


def run_triples(iris: Iris, task: Record[TaskInfo], results: list[Record[ResultInfo]]) -> Iterator[ox.Triple]:
    """A task's run as the platform recorded it: the activity used the application (its plan)
    and the task's dataset records, and generated each (encrypted) result."""
    if not results:
        return
    run_cid = results[0].body.run_cid
    run = iris.run(run_cid)
    job = iris.task(task.body.address)
    yield ox.Triple(run, A, _n(PROV, "Activity"))
    yield ox.Triple(run, _n(EOT, "runRecord"), iris.cid(run_cid))
    yield ox.Triple(run, _n(EOT, "task"), job)
    yield ox.Triple(job, A, _n(EOT, "Task"))
    yield ox.Triple(job, _n(PROV, "wasAssociatedWith"), iris.agent(task.owner))
    yield ox.Triple(run, _n(PROV, "wasAssociatedWith"), iris.agent(results[0].owner))
    yield from _agent(iris, results[0].owner)
    assoc = ox.NamedNode(f"{run.value}#association")
    yield ox.Triple(run, _n(PROV, "qualifiedAssociation"), assoc)
    yield ox.Triple(assoc, A, _n(PROV, "Association"))
    yield ox.Triple(assoc, _n(PROV, "agent"), iris.agent(results[0].owner))
    yield ox.Triple(assoc, _n(PROV, "hadPlan"), iris.record(task.body.application_id))
    yield ox.Triple(run, _n(PROV, "startedAtTime"), _lit(task.created, XSD + "dateTime"))
    yield ox.Triple(run, _n(PROV, "endedAtTime"), _lit(results[-1].created, XSD + "dateTime"))
    for dataset in task.body.inputs.values():
        yield ox.Triple(run, _n(PROV, "used"), iris.record(dataset))
    for res in results:
        entity = iris.cid(res.body.cid)
        yield ox.Triple(entity, A, _n(PROV, "Entity"))
        yield ox.Triple(entity, _n(RDFS, "label"), _lit(res.body.name))
        yield ox.Triple(entity, _n(PROV, "wasGeneratedBy"), run)
        yield ox.Triple(run, _n(PROV, "generated"), entity)
        for dataset in task.body.inputs.values():
            yield ox.Triple(entity, _n(PROV, "wasDerivedFrom"), iris.record(dataset))


def model_triples(iris: Iris, model: ModelEntry) -> Iterator[ox.Triple]:
    node = iris.model(model.cid)
    yield ox.Triple(node, A, _n(DCAT, "Dataset"))
    yield ox.Triple(node, A, _n(EOT, "Model"))
    yield ox.Triple(node, _n(EOT, "cid"), _lit(model.cid))
    if model.name:
        yield ox.Triple(node, _n(DCT, "title"), _lit(model.name))
