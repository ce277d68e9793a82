"""The flow tests' world: five parties, two data owners' real rasters, a fast application."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_world import World, make_world

from eotrust.settings import load_settings


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(load_settings(home=tmp_path / "home", step_retries=0))
