"""`GET /linked-data` and `/sparql` are open to anyone, and each built the whole catalogue graph
anew (seconds with thousands of records): the server keeps the graph it built, and builds it
again only when the catalogue database changed — a record registered through this server, one
written by another process to the same database, or a row altered so that it fails its check."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import FlowWorld, build_world
from eth_account import Account
from fastapi.testclient import TestClient

SPARQL_DATASETS = "SELECT (COUNT(?d) AS ?n) WHERE { ?d a <http://www.w3.org/ns/dcat#Dataset> }"


@pytest.fixture
def world(tmp_path: Path) -> FlowWorld:
    return build_world(tmp_path / "home")


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The base URL of each catalogue graph built."""
    import eotrust.linked.graph as graph

    built: list[str] = []
    real = graph.catalogue_store

    def counted(catalog: Any, base: str, **kwargs: Any) -> Any:
        built.append(base)
        return real(catalog, base, **kwargs)

    monkeypatch.setattr(graph, "catalogue_store", counted)
    return built


@pytest.fixture
def client(world: FlowWorld, builds: list[str]) -> Iterator[TestClient]:
    from eotrust.api.app import create_app
    from eotrust.settings import load_settings

    with TestClient(create_app(load_settings(home=world.home))) as c:
        yield c


def _datasets(client: TestClient) -> int:
    res = client.get(
        "/sparql", params={"query": SPARQL_DATASETS}, headers={"Accept": "application/sparql-results+json"}
    )
    assert res.status_code == 200, res.text
    return int(res.json()["results"]["bindings"][0]["n"]["value"])


def _register(world: FlowWorld, title: str) -> str:
    """A dataset registered by another ``Catalog`` over the same database (as another process)."""
    from eotrust.catalog.entries import DatasetInfo
    from eotrust.catalog.service import Catalog
    from eotrust.settings import load_settings

    record = Catalog(load_settings(home=world.home)).register(
        Account.create(),
        DatasetInfo(title=title, cid="QmWdL3popvi9diBi41SmFtDmmFugRovnuhoprE1o4ejov8", size=1, bbox=(1, 2, 3, 4)),
    )
    return record.id


def test_requests_with_no_change_build_the_graph_once(client: TestClient, world: FlowWorld, builds: list[str]) -> None:
    first = client.get("/linked-data")
    again = client.get("/linked-data")
    assert first.status_code == again.status_code == 200
    assert first.content == again.content and world.dataset_id in first.text
    assert client.get("/linked-data", params={"f": "jsonld"}).status_code == 200
    assert _datasets(client) == 1
    assert _datasets(client) == 1
    assert len(builds) == 1, builds


def test_a_record_written_by_another_process_is_in_the_next_answer(
    client: TestClient, world: FlowWorld, builds: list[str]
) -> None:
    assert _datasets(client) == 1
    assert "Another NDVI" not in client.get("/linked-data").text
    new_id = _register(world, "Another NDVI")
    answer = client.get("/linked-data").text
    assert new_id in answer and "Another NDVI" in answer
    assert _datasets(client) == 2
    assert len(builds) == 2, builds  # once before, once after the change


def test_a_row_altered_to_fail_its_check_leaves_the_next_answer(
    client: TestClient, world: FlowWorld, builds: list[str]
) -> None:
    """Neither the row count nor the newest row changes: the graph kept must not hide it."""
    other = _register(world, "Doomed NDVI")
    assert other in client.get("/linked-data").text and _datasets(client) == 2
    with sqlite3.connect(world.home / "catalog" / "catalog.sqlite") as conn:
        changed = conn.execute("UPDATE catalog_datasets SET title = 'edited' WHERE id = ?", (other,)).rowcount
    assert changed == 1
    assert other not in client.get("/linked-data").text
    assert _datasets(client) == 1


def test_each_base_url_has_its_own_graph(client: TestClient, world: FlowWorld, builds: list[str]) -> None:
    assert "http://one.example/" in client.get("/linked-data", headers={"Host": "one.example"}).text
    two = client.get("/linked-data", headers={"Host": "two.example"}).text
    assert "http://two.example/" in two and "http://one.example/" not in two
    client.get("/linked-data", headers={"Host": "one.example"})
    assert builds == ["http://one.example", "http://two.example"]


class _CountedStore:
    """A real catalogue store that counts how often it is written out as N-Quads."""

    def __init__(self, store: Any, dumped: list[str]) -> None:
        self._store = store
        self._dumped = dumped

    def dump(self, *args: Any, **kwargs: Any) -> Any:
        import pyoxigraph as ox

        if kwargs.get("format") == ox.RdfFormat.N_QUADS:
            self._dumped.append("n-quads")
        return self._store.dump(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def nquads(monkeypatch: pytest.MonkeyPatch, builds: list[str]) -> list[str]:
    """One entry for each time a catalogue graph is serialised to N-Quads (for a SPARQL query)."""
    import eotrust.linked.graph as graph

    dumped: list[str] = []
    counted_build = graph.catalogue_store

    def counted(catalog: Any, base: str, **kwargs: Any) -> Any:
        return _CountedStore(counted_build(catalog, base, **kwargs), dumped)

    monkeypatch.setattr(graph, "catalogue_store", counted)
    return dumped


def test_queries_with_no_change_serialise_the_graph_once(
    world: FlowWorld, builds: list[str], nquads: list[str]
) -> None:
    """Each query's child process is fed the graph as N-Quads: written once and kept beside the
    graph, not written again for every query (2,000 datasets: most of a query's time)."""
    from eotrust.api.app import create_app
    from eotrust.settings import load_settings

    with TestClient(create_app(load_settings(home=world.home))) as client:
        assert _datasets(client) == 1
        assert _datasets(client) == 1
        assert len(nquads) == 1, nquads
        new_id = _register(world, "Another NDVI")
        assert _datasets(client) == 2  # the graph changed: its N-Quads are written anew
        assert new_id in client.get("/linked-data").text
    assert len(nquads) == 2, nquads
    assert len(builds) == 2, builds
