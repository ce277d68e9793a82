"""Fixtures of the server tests: a real `eotrust serve` per test (see api_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_server import LiveServer, start_server


@pytest.fixture
def live_server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[LiveServer] = []

    def make(home: Path | None = None, *flags: str, env: dict[str, str] | None = None) -> LiveServer:
        server = start_server(home or tmp_path / "home", *flags, env=env)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
