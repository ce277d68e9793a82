"""Attack: an anonymous client holds connections open without finishing a request (slowloris),
or opens more of them than the server has file descriptors. Before, `eotrust serve` kept every
such connection for ever: 20,000 idle connections from one machine left it answering no one
(each accept failing with "Too many open files") and writing 136 MB of log a minute.

Now (eotrust.api.http_guard) the server keeps at most ``http_max_connections`` connections and
``http_max_connections_per_client`` from one address (503 beyond), closes a connection whose
request head has not arrived within ``http_head_timeout_s``, or whose body has stalled for
``http_body_idle_timeout_s``, and keeps serving everyone else. A real `eotrust serve`: this is
about the server process, its sockets and its file descriptors."""

from __future__ import annotations

import contextlib
import io
import os
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from waiting import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_server import LiveServer, start_server  # noqa: E402

from eotrust.catalog.api_keys import create_api_key  # noqa: E402
from eotrust.ml.registry import Registry  # noqa: E402
from eotrust.settings import load_settings  # noqa: E402

pytestmark = [pytest.mark.server]

MAX_CONNECTIONS = 40
PER_CLIENT = 12
LIMITS = {
    "EOTRUST_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "EOTRUST_HTTP_MAX_CONNECTIONS_PER_CLIENT": str(PER_CLIENT),
    "EOTRUST_HTTP_HEAD_TIMEOUT_S": "1",
    "EOTRUST_HTTP_BODY_IDLE_TIMEOUT_S": "1",
    "EOTRUST_HTTP_MAX_HEAD_KB": "16",
    "EOTRUST_HTTP_SEND_STALL_TIMEOUT_S": "1",
}
PARTIAL_HEAD = b"GET /conformance HTTP/1.1\r\nHost: x\r\n"  # the blank line that ends a head never comes


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    home = tmp_path / "home"
    home.mkdir()
    live = start_server(home, env=LIMITS)
    try:
        yield live
    finally:
        live.stop()


def _port(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


class Client:
    """One raw connection from ``source``, and what the server sent on it."""

    def __init__(self, server: LiveServer, source: str, first: bytes) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((source, 0))  # every 127.x.y.z is this machine: another client address for the test
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", _port(server)))
        self.sock.sendall(first)
        self.got = b""
        self.closed = False

    def closed_by_server(self) -> bool:
        """Read what has come; whether the server has closed the connection."""
        if not self.closed:
            self.sock.setblocking(False)
            try:
                while chunk := self.sock.recv(65536):
                    self.got += chunk
                self.closed = True  # end of stream
            except BlockingIOError:
                pass  # open, nothing more to read now
            except ConnectionResetError:
                self.closed = True
        return self.closed

    def read_head(self) -> bytes:
        """Block until a response head has come; it and what came with it."""
        self.sock.setblocking(True)
        while b"\r\n\r\n" not in self.got:
            chunk = self.sock.recv(65536)
            assert chunk, f"the server closed the connection before answering: {self.got[:200]!r}"
            self.got += chunk
        return self.got

    def close(self) -> None:
        self.sock.close()


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _legit(server: LiveServer, source: str) -> int:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10, trust_env=False) as client:
        return client.get(f"{server.url}/conformance").status_code


def test_a_flood_of_unfinished_requests_is_cut_down_and_others_are_served(server: LiveServer) -> None:
    pid = server.process.pid
    held = [Client(server, "127.0.0.1", PARTIAL_HEAD) for _ in range(200)]
    try:
        # beyond the per-client limit, each connection got a 503 and was closed at once
        wait_for(
            lambda: sum(c.closed_by_server() for c in held) >= 200 - PER_CLIENT,
            timeout_s=20,
            what="the connections beyond the per-client limit to be refused",
        )
        refused = [c for c in held if c.closed and c.got.startswith(b"HTTP/1.1 503")]
        assert len(refused) == 200 - PER_CLIENT, len(refused)
        assert b"retry-after: 1" in refused[0].got.lower()
        assert _open_fds(pid) < MAX_CONNECTIONS + 60
        # another client is served meanwhile
        assert _legit(server, "127.0.0.2") == 200
        # the held ones lose their connection once their head is overdue
        wait_for(
            lambda: all(c.closed_by_server() for c in held),
            timeout_s=20,
            what="the server to close connections whose request head never ended",
        )
    finally:
        for c in held:
            c.close()
    # many addresses together reach the server's own limit, no more
    crowd = [Client(server, f"127.0.0.{3 + i // PER_CLIENT}", PARTIAL_HEAD) for i in range(5 * PER_CLIENT)]
    try:
        wait_for(
            lambda: sum(c.closed_by_server() for c in crowd) >= 5 * PER_CLIENT - MAX_CONNECTIONS,
            timeout_s=20,
            what="the connections beyond the server's limit to be refused",
        )
        assert _open_fds(pid) < MAX_CONNECTIONS + 60
    finally:
        for c in crowd:
            c.close()
    assert server.alive() and _legit(server, "127.0.0.1") == 200
    log = server.log_text()
    assert "Traceback" not in log and "Too many open files" not in log
    assert len(log) < 100_000, len(log)


def test_a_stalled_body_and_a_stalled_second_request_are_closed(server: LiveServer) -> None:
    body_head = (
        b"POST /stac/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    stalled_body = Client(server, "127.0.0.1", body_head + b'{"limit": ')
    # one the route reads itself (not a JSON body): the SPARQL endpoint, open to anyone
    stalled_query = Client(
        server,
        "127.0.0.1",
        b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
        b"Content-Length: 1000\r\n\r\nSELECT ?s WHERE {",
    )
    # a kept-alive connection: one whole request, its answer, then half of the next one
    kept = Client(server, "127.0.0.1", b"GET /conformance HTTP/1.1\r\nHost: x\r\n\r\n")
    assert kept.read_head().startswith(b"HTTP/1.1 200")
    kept.sock.sendall(PARTIAL_HEAD)
    try:
        wait_for(
            stalled_body.closed_by_server, timeout_s=20, what="the server to close a connection whose body stopped"
        )
        wait_for(stalled_query.closed_by_server, timeout_s=20, what="the server to close a stalled SPARQL query")
        wait_for(
            kept.closed_by_server,
            timeout_s=20,
            what="the server to close a kept-alive connection whose next head never ended",
        )
    finally:
        stalled_body.close()
        stalled_query.close()
        kept.close()
    # a client that finishes its request is answered
    steady = Client(server, "127.0.0.1", body_head.replace(b"1000", b"2") + b"{}")
    try:
        assert steady.read_head().split(b" ", 2)[1] == b"200", steady.got[:300]
    finally:
        steady.close()
    assert server.alive() and _legit(server, "127.0.0.2") == 200
    assert "Traceback" not in server.log_text()


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_request_head_over_the_limit_is_refused_unread(server: LiveServer) -> None:
    """Before, one header line of 70 MiB was read into memory in 9 s (+144 MB resident)."""
    before = _peak_rss_mib(server.process.pid)
    attackers = [
        Client(server, f"127.0.0.{2 + i}", b"GET /conformance HTTP/1.1\r\nHost: x\r\nX-Big: ") for i in range(8)
    ]
    try:
        line = b"a" * (256 * 1024)
        for client in attackers:
            with contextlib.suppress(OSError):  # the server closes the connection once the limit is passed
                for _ in range(32):  # 8 MiB of one header line
                    client.sock.sendall(line)
        for client in attackers:
            wait_for(
                client.closed_by_server, timeout_s=20, what="the server to close a connection whose head is too large"
            )
            assert client.got.startswith(b"HTTP/1.1 431"), client.got[:200]
    finally:
        for client in attackers:
            client.close()
    grown = _peak_rss_mib(server.process.pid) - before
    assert grown < 32, f"the server's peak memory grew by {grown:.0f} MiB"
    # a head under the limit (a 12 KiB cookie) is read and answered
    cookie = Client(
        server, "127.0.0.1", b"GET /conformance HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 12 * 1024 + b"\r\n\r\n"
    )
    try:
        assert cookie.read_head().startswith(b"HTTP/1.1 200")
    finally:
        cookie.close()
    assert server.alive() and "Traceback" not in server.log_text()


def test_large_bodies_and_pipelined_requests_pass_the_head_limit(tmp_path: Path, tiny_enet_zip: Path) -> None:
    """The head limit counts head bytes only: a 1.5 MiB upload (its last piece arriving when the
    request is complete) is scored, twice on one kept-alive connection, and so are two requests
    sent in one write; the next head past the limit is refused. (A first version of the limit
    counted a body's last piece as the next head: 431 for every upload over 64 KiB.)"""
    home = tmp_path / "home"
    settings = load_settings(home=home)
    entry = Registry(settings).register(tiny_enet_zip)
    key, _ = create_api_key(settings, party=None, scopes=[entry.cid])
    live = start_server(home, env=LIMITS)
    try:
        tile = io.BytesIO()
        np.save(tile, np.random.default_rng(0).integers(1, 4000, (3, 512, 512)).astype(np.uint16))
        body = tile.getvalue()
        request = (
            f"POST /models/{entry.cid}/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-npy\r\n"
            f"X-API-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        with httpx.Client(timeout=60, trust_env=False) as client:  # one kept-alive connection
            for _ in range(2):
                r = client.post(
                    f"{live.url}/models/{entry.cid}/predict",
                    content=body,
                    headers={"Content-Type": "application/x-npy", "X-API-Key": key},
                )
                assert r.status_code == 200, r.text[:300]
        both = Client(live, "127.0.0.1", request + request)  # pipelined: two requests in one write
        try:
            wait_for(
                lambda: both.closed_by_server() or both.got.count(b"HTTP/1.1 200") == 2,
                timeout_s=60,
                what="two answers",
            )
            assert both.got.count(b"HTTP/1.1 200") == 2, both.got[:300]
        finally:
            both.close()
        # the next head on a kept-alive connection, past the limit: 431
        too_long = Client(live, "127.0.0.1", request)
        try:
            assert too_long.read_head().startswith(b"HTTP/1.1 200")
            with contextlib.suppress(OSError):  # closed once the limit is passed
                too_long.sock.sendall(b"GET /conformance HTTP/1.1\r\nX-Big: " + b"a" * 64 * 1024)
            wait_for(too_long.closed_by_server, timeout_s=60, what="the server to refuse the second head")
            assert b"HTTP/1.1 431" in too_long.got, too_long.got[-300:]
        finally:
            too_long.close()
    finally:
        live.stop()
    assert "Traceback" not in live.log_text()


def _server_side_established(server_port: int, client_port: int) -> bool:
    """Whether the kernel holds the server's end of this connection open (/proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return state == "01"  # ESTABLISHED
    return False


def test_a_client_that_stops_reading_is_cut_off(server: LiveServer) -> None:
    """Four answers of 1.5 MB asked for in one write, and none read: the server's send buffer
    fills and stays full. Before, uvicorn waited for ever, the connection and the answer held."""
    path = "/api-assets/swagger-ui-bundle.js"
    assert len(httpx.get(server.url + path, timeout=30).content) > 1_000_000
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, never read
    sock.settimeout(10)
    sock.connect(("127.0.0.1", _port(server)))
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 4)
        client_port = sock.getsockname()[1]
        assert _server_side_established(_port(server), client_port)
        wait_for(
            lambda: not _server_side_established(_port(server), client_port),
            timeout_s=30,
            what="the server to cut off a client that does not read",
        )
    finally:
        sock.close()
    assert server.alive() and _legit(server, "127.0.0.2") == 200
    assert "Traceback" not in server.log_text()


def test_upgrade_requests_do_not_leak_from_the_books(server: LiveServer) -> None:
    """WebSocket upgrade requests: before ``ws="none"``, each was upgraded (and refused, 403),
    and the connection left the per-client count without being taken off it — after 12 of
    them, the address got 503 for ever."""
    for _ in range(3 * PER_CLIENT):
        ask = Client(
            server,
            "127.0.0.1",
            b"GET /conformance HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        try:
            assert not ask.read_head().startswith(b"HTTP/1.1 503"), ask.got[:200]
        finally:
            ask.close()
    wait_for(lambda: _legit(server, "127.0.0.1") == 200, timeout_s=20, what="the address to be served again")


def test_an_ipv6_client_counts_by_its_64_network() -> None:
    """One IPv6 host is usually given a whole /64: counted address by address, it could open
    64 connections from each of 2**64 addresses."""
    from eotrust.api.http_guard import client_key

    same = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::1%eth0"]
    assert {client_key(a) for a in same} == {"2001:db8:1:2::/64"}
    assert client_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") != client_key("192.0.2.8")
    assert client_key("::1") == "::/64" and client_key("not an address") == "not an address"


def test_the_connection_limit_fits_the_files_the_process_may_open() -> None:
    """Under `ulimit -n 300` the server keeps at most 300 - 256 connections and says so."""
    code = (
        "from eotrust.api.http_guard import ConnectionLimits\n"
        "limits, note = ConnectionLimits(1024, 64, 10.0, 60.0, 65536, 60.0).within_open_files()\n"
        "print(limits.max_connections, limits.max_per_client)\n"
        "print(note)\n"
    )

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))

    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=low_limit, check=False, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    counts, note = proc.stdout.splitlines()
    assert counts == "44 44"
    assert "at most 44 HTTP connections (not 1024)" in note and "ulimit -n" in note
