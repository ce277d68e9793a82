"""Fixtures of the workflow tests: a store in the test's home and a workflow writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from eotrust.settings import Settings
from eotrust.store import open_store
from eotrust.store.base import Store

HERE = Path(__file__).resolve().parent


@pytest.fixture
def store(settings: Settings) -> Store:
    return open_store(settings)


@pytest.fixture
def write_wf(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "wf.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
