"""Start a real `eotrust serve` on a free loopback port, with its own eotrust home; stop it by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from waiting import wait_for

from eotrust.ports import free_port

REPO = Path(__file__).resolve().parents[2]
EOTRUST = [sys.executable, "-m", "eotrust.cli.main"]


@dataclass
class LiveServer:
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_server(home: Path, *flags: str, env: dict[str, str] | None = None, timeout_s: float = 60.0) -> LiveServer:
    port = free_port()
    log = home.parent / f"server-{port}.log"
    full_env = {**os.environ, "EOTRUST_HOME": str(home), **(env or {})}
    out = log.open("wb")
    proc = subprocess.Popen(
        [*EOTRUST, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "info", *flags],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=full_env,
        cwd=home.parent,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", home, proc, log)

    # one client for every probe: each new httpx client builds an SSL context (~25 ms CPU), and
    # this probe runs every 50 ms while the server starts
    probe = httpx.Client(timeout=2, trust_env=False)

    def answering() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"eotrust serve exited with {proc.returncode}:\n{server.log_text()}")
        try:
            return probe.get(f"{server.url}/conformance").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(answering, timeout_s=timeout_s, what=lambda: f"eotrust serve to answer:\n{server.log_text()}")
    except BaseException:
        server.stop()
        raise
    finally:
        probe.close()
    return server
