"""`eotrust serve` that cannot listen says so in one line (found by hand: a taken port or an
unknown host left uvicorn's INFO/ERROR log and exit status 3; `--log-level shout` a KeyError
traceback), and `--port 0` serves on, and prints, the port the kernel chose."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

EOTRUST = [sys.executable, "-m", "eotrust.cli.main"]


def _serve(tmp_path: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h")}
    return subprocess.run([*EOTRUST, "serve", *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve(tmp_path, "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == f"error: cannot listen on 127.0.0.1:{port}: address already in use"
    assert "Traceback" not in done.stderr and "INFO" not in done.stdout + done.stderr


def test_an_unknown_host_is_one_line(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--host", "no-such-host.invalid", "--port", "0")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot listen on no-such-host.invalid: "), done.stderr
    assert "Traceback" not in done.stderr and "INFO" not in done.stdout + done.stderr


def test_an_unknown_log_level_is_a_usage_error(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--log-level", "shout", "--port", "0")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "shout" in done.stderr


def test_port_zero_serves_on_the_port_it_prints(tmp_path: Path) -> None:
    env = {**os.environ, "EOTRUST_HOME": str(tmp_path / "h"), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [*EOTRUST, "serve", "--port", "0", "--log-level", "warning"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server prints where it listens
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        port = int(found.group(1))
        assert port != 0
        answer = httpx.get(f"http://127.0.0.1:{port}/conformance", timeout=30, trust_env=False)
        assert answer.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
