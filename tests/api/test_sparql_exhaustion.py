"""An anonymous client against the public SPARQL endpoint, trying to exhaust the server.

Before: a query was evaluated in the server's own process with no bound. A cross product of
the catalogue's triples with a filter no row passes ran for hours on one core per request
(pyoxigraph releases the GIL, so a few such requests took every thread of the pool); a cross
product without filter was serialised whole in memory (hundreds of megabytes per request,
more with every triple pattern) and sent back. Now every query runs in a child process with a
deadline, a memory limit and a cap on the answer's size, at most ``sparql_concurrency`` at a
time; past any of them the client gets one clear error, the child is gone, and the server
answers the next query."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_world import FlowWorld, build_world
from fastapi.testclient import TestClient
from waiting import wait_for

# Five copies of "every triple": (triples)^5 combinations; the filter holds for none of them and
# cannot be pushed into the patterns.
ENDLESS = (
    "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n ?o . "
    'FILTER(STR(?a) = CONCAT(STR(?d), STR(?g), STR(?j), "#")) }'
)
# Every combination of three triples, all of them returned: (triples)^3 rows.
HUGE = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
SMALL = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def _workers() -> list[int]:
    """PIDs of SPARQL evaluation children still alive on this machine."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"eotrust.linked.sparql_worker" in cmdline:
                found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowWorld]:
    with pytest.MonkeyPatch.context() as mp:  # the suite's passphrase, as tests/conftest.py sets it per test
        mp.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
        yield build_world(tmp_path_factory.mktemp("sparql") / "home")


@pytest.fixture
def client(world: FlowWorld) -> Iterator[TestClient]:
    from eotrust.api.app import create_app
    from eotrust.settings import load_settings

    settings = load_settings(home=world.home, sparql_timeout_s=2.0, sparql_max_answer_mb=1, sparql_concurrency=1)
    with TestClient(create_app(settings)) as c:
        yield c


def _count(client: TestClient) -> int:
    res = client.get("/sparql", params={"query": SMALL})
    assert res.status_code == 200, res.text
    return int(res.json()["results"]["bindings"][0]["n"]["value"])


def test_an_endless_query_is_stopped_at_the_deadline_and_the_server_answers_on(client: TestClient) -> None:
    triples = _count(client)
    assert triples >= 30, "the world's catalogue is too small for the cross product to be expensive"
    started = time.monotonic()
    res = client.get("/sparql", params={"query": ENDLESS})
    took = time.monotonic() - started
    assert res.status_code == 400, res.text
    detail = res.json()["detail"]
    assert "2 s" in detail and "limit" in detail and "\n" not in detail
    assert took < 10, f"the deadline is 2 s; the answer took {took:.1f} s"
    wait_for(lambda: not _workers(), timeout_s=5, what="the stopped query's process to be gone")
    assert _count(client) == triples


def test_an_answer_over_the_size_cap_is_refused_not_built(client: TestClient) -> None:
    res = client.post("/sparql", content=HUGE, headers={"Content-Type": "application/sparql-query"})
    assert res.status_code == 400, res.text[:200]
    detail = res.json()["detail"]
    assert "1 MiB" in detail and "LIMIT" in detail
    assert len(res.content) < 4096
    wait_for(lambda: not _workers(), timeout_s=5, what="the refused query's process to be gone")
    # with a LIMIT the same query is answered
    limited = client.post("/sparql", content=HUGE + " LIMIT 5", headers={"Content-Type": "application/sparql-query"})
    assert limited.status_code == 200 and len(limited.json()["results"]["bindings"]) == 5


def test_queries_beyond_the_concurrency_limit_are_turned_away_at_once(client: TestClient) -> None:
    slow: list[int] = []
    first = threading.Thread(target=lambda: slow.append(client.get("/sparql", params={"query": ENDLESS}).status_code))
    first.start()
    try:
        wait_for(_workers, timeout_s=10, what="the first query to be running")
        started = time.monotonic()
        busy = client.get("/sparql", params={"query": SMALL})
        assert busy.status_code == 503, busy.text
        assert busy.headers.get("Retry-After") and time.monotonic() - started < 1.5
        assert "at a time" in busy.json()["detail"]
    finally:
        first.join(timeout=30)
    assert slow == [400]
    assert _count(client) > 0  # the slot is free again


def test_the_whole_graph_takes_a_slot_too(client: TestClient) -> None:
    """`GET /linked-data` builds and writes the whole catalogue graph for anyone (2.35 s and
    8 MB with 2,000 datasets), with no bound on how many at once (an audit): it takes one of
    the SPARQL slots now, and is turned away at once when none is free."""
    slots = client.app.state.eotrust.sparql_slots  # type: ignore[attr-defined]
    assert slots.acquire(blocking=False)  # the one slot (sparql_concurrency=1), held elsewhere
    try:
        busy = client.get("/linked-data")
        assert busy.status_code == 503 and busy.headers.get("Retry-After"), busy.text
    finally:
        slots.release()
    assert client.get("/linked-data").status_code == 200


def test_the_limits_are_settings_with_sane_bounds() -> None:
    from eotrust.errors import ConfigError
    from eotrust.settings import Settings, load_settings

    defaults = Settings()
    assert 0 < defaults.sparql_timeout_s <= 60 and 1 <= defaults.sparql_max_answer_mb <= 256
    assert 1 <= defaults.sparql_concurrency <= 8
    for bad in ({"sparql_timeout_s": 0}, {"sparql_max_answer_mb": 0}, {"sparql_concurrency": 0}):
        with pytest.raises(ConfigError):
            load_settings(config_file=None, **bad)
