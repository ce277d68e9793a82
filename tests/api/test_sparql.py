"""The linked-data catalogue and the SPARQL endpoint: Turtle and JSON-LD read back by rdflib,
GeoSPARQL spatial queries, the attacks (SERVICE to a non-peer, updates, garbage), in process;
and one federated query across two real `eotrust serve` processes, asked with rdflib's SPARQL
client (SPARQLStore over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest
import rdflib
import rdflib.compare
from api_world import BBOX, FlowWorld, build_world
from fastapi.testclient import TestClient
from rdflib.query import Result, ResultRow

if TYPE_CHECKING:
    from api_server import LiveServer

PRE = """PREFIX dcat: <http://www.w3.org/ns/dcat#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX geo: <http://www.opengis.net/ont/geosparql#>
PREFIX geof: <http://www.opengis.net/def/function/geosparql/>
PREFIX prov: <http://www.w3.org/ns/prov#>
"""
LJUBLJANA = '"POINT(14.5 46.05)"^^geo:wktLiteral'
VIENNA = '"POINT(16.37 48.21)"^^geo:wktLiteral'


@pytest.fixture
def world(tmp_path: Path) -> FlowWorld:
    return build_world(tmp_path / "home")


@pytest.fixture
def client(world: FlowWorld) -> Iterator[TestClient]:
    from eotrust.api.app import create_app
    from eotrust.settings import load_settings

    with TestClient(create_app(load_settings(home=world.home))) as c:
        yield c


def _rows(result: Result) -> list[ResultRow]:
    """A SELECT answer's rows (rdflib types iterating a Result as any query's answer)."""
    rows = []
    for row in result:
        assert isinstance(row, ResultRow), row
        rows.append(row)
    return rows


def _select(client: TestClient, query: str) -> list[dict[str, str]]:
    res = client.post("/sparql", content=PRE + query, headers={"Content-Type": "application/sparql-query"})
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/sparql-results+json")
    parsed = Result.parse(source=__import__("io").BytesIO(res.content), format="json")
    return [{str(k): str(v) for k, v in row.asdict().items()} for row in _rows(parsed)]


def test_catalogue_as_turtle_and_json_ld_read_by_rdflib(client: TestClient, world: FlowWorld) -> None:
    ttl = client.get("/linked-data")
    assert ttl.headers["content-type"].startswith("text/turtle")
    g = rdflib.Graph().parse(data=ttl.text, format="turtle")
    DCAT, GEO = (
        rdflib.Namespace("http://www.w3.org/ns/dcat#"),
        rdflib.Namespace("http://www.opengis.net/ont/geosparql#"),
    )
    datasets = list(g.subjects(rdflib.RDF.type, DCAT.Dataset))
    assert [str(d).rsplit("/", 1)[-1] for d in datasets] == [world.dataset_id]
    wkt = str(next(g.objects(next(g.objects(datasets[0], GEO.hasGeometry)), GEO.asWKT)))
    assert "POLYGON" in wkt and str(BBOX[0]) in wkt
    jsonld = client.get("/linked-data", headers={"Accept": "application/ld+json"})
    assert jsonld.headers["content-type"].startswith("application/ld+json")
    g2 = rdflib.Graph().parse(data=jsonld.text, format="json-ld")
    assert len(g2) == len(g) > 20
    assert rdflib.compare.isomorphic(g, g2)
    assert client.get("/linked-data", params={"f": "jsonld"}).headers["content-type"].startswith("application/ld+json")
    assert client.get("/linked-data", params={"f": "exe"}).status_code == 400


def test_geosparql_spatial_and_measuring_functions(client: TestClient, world: FlowWorld) -> None:
    inside = _select(
        client,
        f"""SELECT ?d ?title WHERE {{
        ?d a dcat:Dataset ; dct:title ?title ; geo:hasGeometry/geo:asWKT ?g .
        FILTER(geof:sfIntersects(?g, {LJUBLJANA})) }}""",
    )
    assert [r["title"] for r in inside] == ["Karst NDVI"]
    assert (
        _select(
            client,
            f"""SELECT ?d WHERE {{ ?d geo:hasGeometry/geo:asWKT ?g .
        FILTER(geof:sfContains(?g, {VIENNA})) }}""",
        )
        == []
    )
    far = _select(
        client,
        f"""SELECT ?km WHERE {{ ?d geo:hasGeometry/geo:asWKT ?g .
        BIND(geof:distance(?g, {VIENNA}, <http://www.opengis.net/def/uom/OGC/1.0/metre>) / 1000 AS ?km) }}""",
    )
    assert 200 < float(far[0]["km"]) < 300  # the box's nearest corner is ~230 km from Vienna
    area = _select(
        client,
        """SELECT ?a WHERE { ?d geo:hasGeometry/geo:asWKT ?g .
        BIND(geof:area(?g, <http://www.opengis.net/def/uom/OGC/1.0/metre>) AS ?a) }""",
    )
    assert 4e8 < float(area[0]["a"]) < 7e8  # 0.3 x 0.2 degrees at 46 N: ~5.2e8 m2
    apps = _select(client, "SELECT ?t WHERE { ?a a dcat:DataService ; dct:title ?t }")
    assert [r["t"] for r in apps] == ["shout"]
    get = client.get(
        "/sparql",
        params={"query": PRE + "ASK { ?d a dcat:Dataset }"},
        headers={"Accept": "application/sparql-results+xml"},
    )
    assert get.status_code == 200 and "<boolean>true</boolean>" in get.text
    construct = client.get(
        "/sparql", params={"query": PRE + "CONSTRUCT { ?d a dcat:Dataset } WHERE { ?d a dcat:Dataset }"}
    )
    assert construct.headers["content-type"].startswith("text/turtle") and world.dataset_id in construct.text


def test_sparql_attacks_are_refused(client: TestClient) -> None:
    def status(query: str) -> int:
        return cast(int, client.post("/sparql", data={"query": query}).status_code)  # TestClient is untyped here

    assert status("SELECT * WHERE { SERVICE <http://169.254.169.254/latest/meta-data> { ?s ?p ?o } }") == 403
    assert status("SELECT * WHERE { SERVICE ?endpoint { ?s ?p ?o } }") == 403
    assert status("PREFIX x: <http://127.0.0.1:1/> SELECT * WHERE { SERVICE x:sparql { ?s ?p ?o } }") == 403
    assert status("INSERT DATA { <urn:a> <urn:b> <urn:c> }") == 400
    assert status("DROP ALL") == 400
    assert status("SELECT nonsense") == 400
    assert status("") == 400
    assert status("SELECT * WHERE { ?s ?p ?o } # " + "x" * 30000) == 400
    assert client.post("/sparql", content=b"SELECT * {}", headers={"Content-Type": "image/png"}).status_code == 400
    # still no triple was added by any of it
    assert client.get("/sparql", params={"query": "ASK { <urn:a> ?p ?o }"}).json()["boolean"] is False


@pytest.mark.server
@pytest.mark.slow
def test_federated_query_across_two_servers_with_rdflib(
    tmp_path: Path, live_server_factory: Callable[..., LiveServer]
) -> None:
    from rdflib.plugins.stores.sparqlstore import SPARQLStore

    from eotrust.catalog.entries import DatasetInfo
    from eotrust.catalog.service import Catalog
    from eotrust.party import Role, create_party
    from eotrust.settings import load_settings

    def home_with(name: str, title: str, bbox: tuple[float, float, float, float]) -> Path:
        home = tmp_path / name
        settings = load_settings(home=home)
        owner = create_party(settings, "owner", Role.DATA_OWNER)
        Catalog(settings).register_dataset(
            owner, DatasetInfo(title=title, cid="QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", size=1, bbox=bbox)
        )
        return home

    east = live_server_factory(home_with("east", "Pannonian plain", (19.0, 46.0, 20.0, 47.0)))
    west = live_server_factory(
        home_with("west", "Karst plateau", (13.6, 45.6, 14.0, 45.9)),
        env={"EOTRUST_SPARQL_PEERS": json.dumps([f"{east.url}/sparql"])},
    )
    query = (
        PRE
        + f"""SELECT ?title WHERE {{
        {{ ?d a dcat:Dataset ; dct:title ?title }}
        UNION
        {{ SERVICE <{east.url}/sparql> {{ ?d a dcat:Dataset ; dct:title ?title ; geo:hasGeometry/geo:asWKT ?g .
             FILTER(geof:sfIntersects(?g, "POINT(19.5 46.5)"^^geo:wktLiteral)) }} }}
    }} ORDER BY ?title"""
    )
    graph = rdflib.Graph(store=SPARQLStore(f"{west.url}/sparql", returnFormat="json"))
    titles = [str(row[0]) for row in _rows(graph.query(query))]
    assert titles == ["Karst plateau", "Pannonian plain"]
    # east has no peers: it refuses to reach west
    import httpx

    back = httpx.get(
        f"{east.url}/sparql", params={"query": f"SELECT * WHERE {{ SERVICE <{west.url}/sparql> {{ ?s ?p ?o }} }}"}
    )
    assert back.status_code == 403 and "not a federation peer" in back.json()["detail"]
