"""A real HTTP server of the eotrust app on a free loopback port, with its own eotrust home:
``start_server`` runs `eotrust serve` as a process (stopped by PID), for tests of the server
process itself; ``start_in_thread`` runs uvicorn on the app in a thread of the test process (a
real socket and a real uvicorn, without a second interpreter importing everything again), for
clients that cannot take a transport (a browser, OWSLib, a federated SPARQL peer)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from waiting import wait_for

from eotrust.api.app import create_app
from eotrust.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
EOTRUST = [sys.executable, "-m", "eotrust.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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

    def answering() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"eotrust serve exited with {proc.returncode}:\n{server.log_text()}")
        try:
            return httpx.get(f"{server.url}/conformance", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(answering, timeout_s=timeout_s, what=lambda: f"eotrust serve to answer:\n{server.log_text()}")
    except BaseException:
        server.stop()
        raise
    return server


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class ThreadServer:
    url: str
    home: Path
    server: uvicorn.Server
    thread: threading.Thread
    log: _Lines

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        for name in ("eotrust", "uvicorn"):
            logging.getLogger(name).removeHandler(self.log)
        assert not self.thread.is_alive(), "the server thread did not stop"

    def log_text(self) -> str:
        return "\n".join(self.log.lines)


def start_in_thread(
    home: Path, *, dev_autoack: bool = False, run_nodes: bool = False, timeout_s: float = 60.0, **settings: object
) -> ThreadServer:
    """uvicorn serving ``create_app(load_settings(home=home, **settings), ...)`` in a thread,
    as `eotrust serve --dev-autoack --run-nodes` would; its log lines are kept for messages."""
    port = free_port()
    app = create_app(load_settings(home=home, **settings), dev_autoack=dev_autoack, run_nodes=run_nodes)
    # log_config=None: uvicorn leaves the test process's logging alone
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    lines = _Lines()
    for name in ("eotrust", "uvicorn"):
        logging.getLogger(name).addHandler(lines)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    live = ThreadServer(f"http://127.0.0.1:{port}", home, server, thread, lines)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError(f"the server thread ended:\n{live.log_text()}")
        return bool(server.started)

    try:
        wait_for(started, timeout_s=timeout_s, what=lambda: f"uvicorn to start:\n{live.log_text()}")
    except BaseException:
        live.stop()
        raise
    return live
