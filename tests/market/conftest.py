"""The market tests' world: see market_world.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_world import World
from market_world import make_market_world

from eotrust.settings import load_settings


@pytest.fixture
def market(tmp_path: Path) -> World:
    return make_market_world(load_settings(home=tmp_path / "home", step_retries=0))
