"""A catalogue URL eotrust cannot open is one error naming the setting, never a traceback, and
never echoes the URL's password (found by hand: `EOTRUST_CATALOG_URL=garbage` crashed with
SQLAlchemy's ArgumentError, `mysql://…` with ModuleNotFoundError)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eotrust.catalog.service import open_catalog
from eotrust.errors import BackendUnavailableError, ConfigError
from eotrust.ports import free_port
from eotrust.settings import load_settings


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("garbage", r"catalog_url \(EOTRUST_CATALOG_URL\) is not a database URL"),
        ("mysql://x:hunter2@db/y", "no driver for mysql here"),
        ("postgresql+nonesuch://x:hunter2@db/y", "no driver for postgresql\\+nonesuch here"),
    ],
)
def test_a_url_eotrust_cannot_open_is_a_config_error(tmp_path: Path, url: str, says: str) -> None:
    settings = load_settings(home=tmp_path / "h", catalog_url=url)
    with pytest.raises(ConfigError, match=says) as err:
        open_catalog(settings)
    assert "hunter2" not in str(err.value.message) + str(err.value.hint)
    assert "catalog_url" in (err.value.hint or "")


def test_an_unreachable_database_hides_the_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://eve:hunter2@127.0.0.1:{free_port()}/x"
    with pytest.raises(BackendUnavailableError, match="cannot open the catalogue database") as err:
        open_catalog(load_settings(home=tmp_path / "h", catalog_url=url))
    assert "hunter2" not in err.value.message and "***" in err.value.message


def test_the_cli_prints_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h"), "EOTRUST_CATALOG_URL": "garbage", "EOTRUST_AGENT": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", "catalog", "search"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: catalog_url (EOTRUST_CATALOG_URL) is not a database URL"), done.stderr
    assert "Traceback" not in done.stderr
