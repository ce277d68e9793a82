"""schemathesis generates requests from the server's own OpenAPI document — as an anonymous
client and as an authenticated submitter — and no request may get a 5xx answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from api_world import build_world

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _schemathesis(url: str, *extra: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).with_name("schemathesis")
    return subprocess.run(
        [
            str(st),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "10",
            "--seed",
            "20261125",
            "--max-time",
            "25",
            "--request-timeout",
            "20",
            "--workers",
            "1",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
    )


def test_no_server_errors_on_generated_requests(tmp_path: Path, live_server_factory: Any) -> None:
    world = build_world(tmp_path / "home", submitters=("sam",))
    server = live_server_factory(world.home)
    for headers in ([], ["-H", f"X-API-Key: {world.keys['sam']}"]):
        run = _schemathesis(server.url, *headers, cwd=tmp_path)
        tail = run.stdout[-6000:]
        assert run.returncode == 0, f"{tail}\n--- server log ---\n{server.log_text()[-4000:]}"
        assert "Server error" not in run.stdout, tail
        assert "generated" in run.stdout, tail
