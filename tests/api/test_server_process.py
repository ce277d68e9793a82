"""The one test of the server process itself (everything else tests the app in process):
`eotrust serve` starts on a free port, answers over a real socket, refuses a declared 2 GB body
from its Content-Length before a byte of it is sent, and stops cleanly on SIGTERM, by PID."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from eotrust.catalog.api_keys import create_api_key
from eotrust.party import Role, create_party
from eotrust.settings import load_settings

if TYPE_CHECKING:
    from api_server import LiveServer

pytestmark = pytest.mark.server


def _raw_post(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    """Send only the head of a POST and read the answer the server gives to it."""
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head.encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


def test_serve_answers_refuses_a_huge_body_and_stops_by_pid(
    tmp_path: Path, live_server_factory: Callable[..., LiveServer]
) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home)
    key, _ = create_api_key(settings, party=create_party(settings, "sam", Role.SUBMITTER), scopes=["*"])
    server = live_server_factory(home, env={"EOTRUST_MAX_UPLOAD_MB": "1"})

    assert httpx.get(f"{server.url}/conformance", timeout=10).json()["conformsTo"]
    doc = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    assert "/processes" in doc["paths"]

    host, port = server.url.removeprefix("http://").split(":")
    reply = _raw_post(
        host,
        int(port),
        "/store",
        {"X-API-Key": key, "Content-Type": "application/octet-stream", "Content-Length": str(2 * 1024**3)},
    )
    status_line, _, rest = reply.partition(b"\r\n")
    assert b" 413 " in status_line, reply[:300]
    assert b"larger than 1 MiB" in rest
    assert server.process.poll() is None
    assert httpx.get(f"{server.url}/conformance", timeout=10).status_code == 200  # still serving

    server.process.send_signal(signal.SIGTERM)  # by PID, as an operator would
    # a graceful shutdown (the lifespan ran to its end); uvicorn then re-raises the signal it caught
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM), server.log_text()[-3000:]
    assert "Application shutdown complete" in server.log_text() and "Traceback" not in server.log_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/conformance", timeout=5)
