"""Attack (or mistake): `eotrust serve` started with the wrong passphrase for the parties whose
keystores are in its home. Before the fix it started anyway and printed a traceback every
second (each node loop failed to unlock); now it exits at once with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eotrust.party import Role, create_party
from eotrust.settings import Settings


@pytest.mark.server
def test_serve_with_a_wrong_passphrase_exits_at_once(settings: Settings) -> None:
    create_party(settings, "plat", Role.PLATFORM_OWNER)
    env = {
        **os.environ,
        "EOTRUST_PASSPHRASE": "not-the-passphrase",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "eotrust.cli.main", "--home", str(settings.home), "serve", "--port", "0", "--run-nodes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the server kept running with a wrong passphrase:\n{err[-2000:]}")
    assert proc.returncode != 0
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:") and "plat" in lines[0], err
    assert len(lines) <= 2, err  # the error and its hint
