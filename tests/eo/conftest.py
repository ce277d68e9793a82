"""Fixtures of the EO tests: the real Slovenian sample and the Landsat scene."""

from __future__ import annotations

from pathlib import Path

import pytest
from eo_world import LANDSAT, SLOVENIA


@pytest.fixture
def slovenia() -> Path:
    return SLOVENIA


@pytest.fixture
def landsat() -> Path:
    return LANDSAT
