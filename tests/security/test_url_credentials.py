"""A JSON-RPC node's or an IPFS API's URL often carries its credentials: a provider's key in
the path (``/v3/<key>``), in the query (``?apikey=``) or user:password before the host.
Attack: a node that is down, refuses the key (HTTP 401/429) or answers something that is not
JSON-RPC made every command print the whole URL — in a traceback for the last two — and the
server hand it to any HTTP client in its 503 body; an IPFS API that was down or not kubo's was
named whole likewise. Now each is one error naming the service by scheme, host and port only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from waiting import wait_for

from eotrust.errors import BackendUnavailableError, NotFoundError
from eotrust.ledger import Chain
from eotrust.ports import free_port
from eotrust.settings import load_settings
from eotrust.store.ipfs import IpfsStore
from eotrust.urls import redacted_url

pytestmark = [pytest.mark.server]

SECRETS = ("sekrit", "KEY123", "QQQ")

# answers every POST with the status and body given on its command line
NODE = """
import http.server, sys
class Node(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = sys.argv[3].encode()
        self.send_response(int(sys.argv[2]))
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Node).serve_forever()
"""


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def node(request: pytest.FixtureRequest) -> Iterator[int]:
    """A loopback HTTP server answering (status, body) to every request; stopped by its PID."""
    status, body = request.param
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", NODE, str(port), str(status), body])
    try:
        wait_for(lambda: _listening(port), timeout_s=30, what="the fake node listening")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _url(port: int) -> str:
    return f"http://bob:sekrit@127.0.0.1:{port}/v3/KEY123?apikey=QQQ"


def _clean(text: str) -> None:
    assert not any(secret in text for secret in SECRETS), text


def test_an_unreachable_node_is_named_without_its_credentials(tmp_path: Path) -> None:
    port = free_port()
    chain = Chain.from_settings(load_settings(home=tmp_path / "home", chain_url=_url(port)))
    with pytest.raises(BackendUnavailableError) as info:
        chain.block_number()
    assert f"http://127.0.0.1:{port}" in info.value.message  # the node is still named
    _clean(info.value.message + str(info.value.hint))
    _clean(chain.backend.description)


@pytest.mark.parametrize(
    ("node", "says"),
    [((401, '{"error": "invalid project id"}'), "401"), ((429, "{}"), "429"), ((200, "<html>hi</html>"), "JSON")],
    indirect=["node"],
)
def test_a_node_refusing_the_key_or_not_speaking_json_rpc_is_one_error_without_credentials(
    node: int, says: str, tmp_path: Path
) -> None:
    """Before: requests' HTTPError ("401 Client Error: Unauthorized for url: http://bob:sekrit@…")
    and json's JSONDecodeError escaped as tracebacks."""
    chain = Chain.from_settings(load_settings(home=tmp_path / "home", chain_url=_url(node)))
    with pytest.raises(BackendUnavailableError) as info:
        chain.block_number()
    assert says in info.value.message and f"127.0.0.1:{node}" in info.value.message
    _clean(info.value.message + str(info.value.hint))


@pytest.mark.parametrize("node", [(401, "{}")], indirect=True)
def test_the_cli_names_a_refusing_node_in_one_line_without_credentials(node: int, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_")}
    env |= {"EOTRUST_HOME": str(tmp_path / "home"), "EOTRUST_CHAIN_URL": _url(node), "EOTRUST_AGENT": "0"}
    address = "0x" + "00" * 19 + "01"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("eotrust")), "task", "status", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "401" in done.stderr, done.stderr
    _clean(done.stdout + done.stderr)


def test_an_unreachable_ipfs_api_is_named_without_its_credentials() -> None:
    port = free_port()
    store = IpfsStore(_url(port))
    with pytest.raises(BackendUnavailableError) as info:
        store.has("QmTXgNTp1CnApNc1b7kAFiVoYf53oRETMEesbc39bSMTss")
    assert f"http://127.0.0.1:{port}" in info.value.message
    _clean(info.value.message + repr(store))


@pytest.mark.parametrize("node", [(500, '{"Message": "block was not found locally: could not find"}')], indirect=True)
def test_an_object_the_ipfs_node_lacks_is_named_without_its_credentials(node: int) -> None:
    store = IpfsStore(_url(node))
    with pytest.raises(NotFoundError) as info:
        store.open("QmTXgNTp1CnApNc1b7kAFiVoYf53oRETMEesbc39bSMTss")
    assert f"127.0.0.1:{node}" in info.value.message
    _clean(info.value.message)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("https://mainnet.infura.io/v3/KEY123", "https://mainnet.infura.io/…"),
        ("https://bob:sekrit@node.example:8443/?apikey=QQQ", "https://node.example:8443/…"),
        ("http://[::1]:5001", "http://[::1]:5001"),
        ("notaurl-KEY123", "(not a URL with a scheme and a host)"),
        ("http://[::1:5001/KEY123", "(a malformed URL)"),
    ],
)
def test_what_of_a_url_is_shown(url: str, shown: str) -> None:
    assert redacted_url(url) == shown
