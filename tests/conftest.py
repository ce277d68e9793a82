"""Fixtures shared by every test: a fresh eotrust home and Settings for each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_control import stop_agents
from fast_keys import SCRYPT_N
from session_shared import ROOT_VARIABLE, built_once

from eotrust.settings import Settings, load_settings

# pytest-xdist already runs one test process per core: a library that also spreads each
# computation over every core (PyTorch's OpenMP intra-op threads) would only have the processes'
# threads wait for one another. Subprocesses inherit it; a workflow step sets its own.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--suite-time",
        metavar="DIR",
        default=None,
        help="record each test's wall time and CPU in DIR (tools/suite_time.py; make suite-time)",
    )


def pytest_configure(config: pytest.Config) -> None:
    directory = config.getoption("--suite-time")
    if directory:  # tools/ on this process's path only: a PYTHONPATH would reach every child
        import sys  # and change its resident agent's key (a relative one: per working directory)

        sys.path.insert(0, str(REPO / "tools"))
        import suite_time

        suite_time.register(config, Path(directory))


DATA = REPO / "tests" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ~/.eotrust or eotrust.toml."""
    for var in ("EOTRUST_HOME", "EOTRUST_CHAIN_URL", "EOTRUST_STORE", "EOTRUST_CATALOG_URL", "EOTRUST_DASK_SCHEDULER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EOTRUST_CONFIG", "")  # empty: no config file at all
    monkeypatch.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
    monkeypatch.setenv("EOTRUST_KEYSTORE_SCRYPT_N", str(SCRYPT_N))  # fast keystores; production default is 2**16


@pytest.fixture(scope="session", autouse=True)
def _session_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The session's temporary root for tests/session_shared.py: with pytest-xdist, the folder
    that holds every worker's basetemp (pytest-N), which pytest removes with old sessions."""
    base = tmp_path_factory.getbasetemp()
    os.environ[ROOT_VARIABLE] = str(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)


@pytest.fixture(scope="session", autouse=True)
def _resident_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every `eotrust` subprocess of the session shares one resident agent (eotrust.cli.resident)
    in a directory of the session's, so that their short commands start warm; it is stopped by
    PID at the end (EOTRUST_AGENT=0 in a test's environment runs its commands in-process)."""
    directory = tmp_path_factory.mktemp("agent")
    directory.chmod(0o700)
    saved = {name: os.environ.get(name) for name in ("EOTRUST_AGENT_DIR", "EOTRUST_AGENT_IDLE_S")}
    os.environ["EOTRUST_AGENT_DIR"] = str(directory)
    os.environ["EOTRUST_AGENT_IDLE_S"] = "300"  # one left behind by a crashed session goes soon
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        stop_agents(directory)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(home=tmp_path / "home")


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def tiny_enet_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default tiny ENet model package of tests/ml/tiny_models.py, built once per session
    and shared by its test processes (its build is deterministic: tests/ml/test_package.py checks that against a fresh build).
    Read-only: copy it before changing it."""
    import stat
    import sys

    sys.path.insert(0, str(REPO / "tests" / "ml"))
    from tiny_models import tiny_enet_package

    def build(folder: Path) -> None:
        tiny_enet_package(folder / "tiny.zip").chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)

    return built_once("tiny-enet", build) / "tiny.zip"
