"""Fixtures of the API tests. API behaviour is tested IN PROCESS: the app from
``eotrust.api.app.create_app`` behind FastAPI's ``TestClient`` (see api_client.py) — no server
process, no port. Use them like this::

    from api_world import build_world

    def test_something(tmp_path, api_client_factory):
        world = build_world(tmp_path / "home")                 # parties, dataset, workflow, API keys
        client = api_client_factory(world.home, dev_autoack=True, run_nodes=True)
        r = client.get("/jobs", headers={"X-API-Key": world.keys["sam"]})

- ``api_client_factory(home, *, dev_autoack=False, run_nodes=False, **settings)``: a started
  client of the app for ``load_settings(home=home, **settings)`` (e.g. ``max_upload_mb=1``);
  its background helpers are stopped after the test. Several per test are fine.
- ``api_client``: the same for the ``settings`` fixture's empty home.
- ``world`` / ``world_client``: ``build_world`` (submitters sam and sue) and a client of it
  with ``dev_autoack`` and ``run_nodes``, so tasks run to Finished.
- Module-scoped worlds: ``with in_process(settings, ...) as client:`` from api_client.py.

A real ``eotrust serve`` (api_server.py, started and stopped by PID) is only for tests about the
server process itself (test_server_process.py) and clients that cannot take a transport (a
browser, OWSLib, a federated SPARQL peer); schemathesis runs in process (test_schemathesis.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from api_client import in_process
from api_world import FlowWorld, build_world
from fastapi.testclient import TestClient

from eotrust.settings import Settings, load_settings

if TYPE_CHECKING:
    from api_server import LiveServer

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def api_client_factory(tmp_path: Path) -> Iterator[ClientFactory]:
    with ExitStack() as stack:

        def make(
            home: Path | None = None, *, dev_autoack: bool = False, run_nodes: bool = False, **overrides: object
        ) -> TestClient:
            settings = load_settings(config_file=None, home=home or tmp_path / "home", **overrides)
            return stack.enter_context(in_process(settings, dev_autoack=dev_autoack, run_nodes=run_nodes))

        yield make


@pytest.fixture
def api_client(settings: Settings) -> Iterator[TestClient]:
    with in_process(settings) as client:
        yield client


@pytest.fixture
def world(tmp_path: Path) -> FlowWorld:
    return build_world(tmp_path / "home", submitters=("sam", "sue"))


@pytest.fixture
def world_client(world: FlowWorld, api_client_factory: ClientFactory) -> TestClient:
    return api_client_factory(world.home, dev_autoack=True, run_nodes=True)


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """A real ``eotrust serve`` per call (api_server.py), stopped by PID after the test."""
    from api_server import start_server

    started: list[LiveServer] = []

    def make(home: Path | None = None, *flags: str, env: dict[str, str] | None = None) -> LiveServer:
        server = start_server(home or tmp_path / "home", *flags, env=env)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
