"""`eotrust store …`: thin commands over the store, with clear one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from eotrust.cid import cid_of_bytes, to_v1
from eotrust.cli.main import app
from eotrust.errors import IntegrityError, InvalidInputError, NotFoundError
from eotrust.settings import Settings

runner = CliRunner()


@pytest.fixture
def home(settings: Settings) -> list[str]:
    return ["--home", str(settings.home)]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.bin"
    path.write_bytes(np.random.default_rng(5).integers(0, 256, 700_000, dtype=np.uint8).tobytes())
    return path


def test_put_ls_get_verify(home: list[str], sample: Path, tmp_path: Path) -> None:
    expected = cid_of_bytes(sample.read_bytes())
    result = runner.invoke(app, [*home, "store", "put", str(sample)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == expected

    listed = runner.invoke(app, [*home, "store", "ls", "--json"])
    assert json.loads(listed.stdout) == [{"cid": expected, "size": 700_000, "pinned": True}]

    out = tmp_path / "copy.bin"
    got = runner.invoke(app, [*home, "store", "get", to_v1(expected), "-o", str(out)])
    assert got.exit_code == 0, got.output
    assert out.read_bytes() == sample.read_bytes()

    stdout = runner.invoke(app, [*home, "store", "get", expected])
    assert stdout.stdout_bytes == sample.read_bytes()

    ok = runner.invoke(app, [*home, "store", "verify", expected])
    assert ok.exit_code == 0 and ok.stdout.strip() == f"ok {expected}"


def test_put_json_and_pins(home: list[str], sample: Path) -> None:
    result = runner.invoke(app, [*home, "store", "put", "--no-pin", "--json", str(sample)])
    info = json.loads(result.stdout)
    assert info["pinned"] is False and info["cid_v1"] == to_v1(info["cid"]) and info["size"] == 700_000
    pinned = runner.invoke(app, [*home, "store", "pin", info["cid"]])
    assert pinned.exit_code == 0 and pinned.stdout.strip() == f"pinned {info['cid']}"
    assert json.loads(runner.invoke(app, [*home, "store", "ls", "--json"]).stdout)[0]["pinned"] is True
    unpinned = runner.invoke(app, [*home, "store", "unpin", info["cid"]])
    assert unpinned.exit_code == 0 and unpinned.stdout.strip() == f"unpinned {info['cid']}"
    assert json.loads(runner.invoke(app, [*home, "store", "ls", "--json"]).stdout)[0]["pinned"] is False


def test_cid_stores_nothing(home: list[str], sample: Path) -> None:
    result = runner.invoke(app, [*home, "store", "cid", str(sample)])
    assert result.stdout.strip() == cid_of_bytes(sample.read_bytes())
    v1 = runner.invoke(app, [*home, "store", "cid", "--v1", str(sample)])
    assert v1.stdout.strip() == to_v1(result.stdout.strip())
    assert json.loads(runner.invoke(app, [*home, "store", "ls", "--json"]).stdout) == []


def test_kubo_hello_world(home: list[str], tmp_path: Path) -> None:
    path = tmp_path / "hello"
    path.write_bytes(b"hello world")
    assert (
        runner.invoke(app, [*home, "store", "cid", str(path)]).stdout.strip()
        == "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    )


def test_errors_are_typed(home: list[str], tmp_path: Path, settings: Settings) -> None:
    assert isinstance(runner.invoke(app, [*home, "store", "get", "nonsense"]).exception, InvalidInputError)
    assert isinstance(runner.invoke(app, [*home, "store", "put", str(tmp_path / "none")]).exception, NotFoundError)
    missing = cid_of_bytes(b"absent")
    assert isinstance(runner.invoke(app, [*home, "store", "verify", missing]).exception, NotFoundError)


def test_corruption_is_one_clear_line(settings: Settings, sample: Path, tmp_path: Path) -> None:
    home = ["--home", str(settings.home)]
    cid = runner.invoke(app, [*home, "store", "put", str(sample)]).stdout.strip()
    (pack,) = (settings.home / "store" / "objects").rglob("*.pack")
    raw = bytearray(pack.read_bytes())
    raw[12345] ^= 0xFF
    pack.write_bytes(bytes(raw))
    assert isinstance(runner.invoke(app, [*home, "store", "verify", cid]).exception, IntegrityError)
    out = tmp_path / "out.bin"
    proc = subprocess.run(
        [sys.executable, "-m", "eotrust.cli.main", *home, "store", "get", cid, "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "is corrupt" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
