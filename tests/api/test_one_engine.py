"""Attack: a flood of authenticated requests must not open a database engine (and run the
catalogue's ``create_all``) per request, as the server once did for every API key check. The
server's backends open one engine, once, whatever the number of requests, and keep it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_world import build_world
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.pool import Pool

from eotrust.catalog.base import Base

REQUESTS = 40


@pytest.fixture
def opened() -> Iterator[dict[str, int]]:
    """Counts, in this process: pools that made their first connection (one per engine used)
    and ``create_all`` runs over the catalogue's tables."""
    counts = {"engines": 0, "create_all": 0}

    def first_connect(*_: object) -> None:
        counts["engines"] += 1

    def before_create(*_: object, **__: object) -> None:
        counts["create_all"] += 1

    event.listen(Pool, "first_connect", first_connect)
    event.listen(Base.metadata, "before_create", before_create)
    try:
        yield counts
    finally:
        event.remove(Pool, "first_connect", first_connect)
        event.remove(Base.metadata, "before_create", before_create)


def test_many_authenticated_requests_share_one_engine(
    tmp_path: Path, api_client_factory: Callable[..., TestClient], opened: dict[str, int]
) -> None:
    world = build_world(tmp_path / "home")
    client = api_client_factory(world.home)
    headers = {"X-API-Key": world.keys["sam"]}
    before = dict(opened)  # what building the world opened
    assert client.get("/jobs", headers=headers).status_code == 200  # the first request opens the backends
    after_first = dict(opened)
    assert {k: after_first[k] - before[k] for k in before} == {"engines": 1, "create_all": 1}
    for i in range(REQUESTS):
        path = ("/jobs", "/tasks", "/me")[i % 3]
        r = client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.text)
    # a bad key is refused without opening anything either
    assert client.get("/jobs", headers={"X-API-Key": "eot_" + "x" * 43}).status_code == 401
    assert opened == after_first, (
        f"{REQUESTS} requests opened {opened['engines'] - after_first['engines']} more engines"
    )


def test_the_counter_sees_a_new_engine(tmp_path: Path, opened: dict[str, int]) -> None:
    # the check above cannot pass by counting nothing: a second Backends opens a second engine
    from eotrust.backends import Backends
    from eotrust.settings import load_settings

    settings = load_settings(home=tmp_path / "home")
    first, second = Backends(settings), Backends(settings)
    first.catalog.tasks()
    first.api_keys.list()  # the same engine
    assert opened == {"engines": 1, "create_all": 1}
    second.catalog.tasks()
    assert opened == {"engines": 2, "create_all": 2}
    first.close()
    second.close()
