"""Start anvil (npm @foundry-rs/anvil, a dev dependency in contracts/) on a free loopback port;
stop it by its PID. Shared by the ledger, flow and demo tests and benchmarks/ledger_gas.py
(``tests/`` is on sys.path: ``pythonpath`` in pyproject.toml)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from waiting import wait_for

from eotrust.ports import free_port

REPO = Path(__file__).resolve().parents[1]
ANVIL = REPO / "contracts" / "node_modules" / ".bin" / "anvil"
MISSING = f"anvil is not installed at {ANVIL} (contracts/node_modules: run `make node`)"


@contextmanager
def anvil() -> Iterator[str]:
    """A running anvil JSON-RPC node on a free loopback port (stopped by its PID); yields its URL.
    A missing anvil is a failure (`make test` installs it), never a skip."""
    assert ANVIL.exists(), MISSING
    port = free_port()
    proc = subprocess.Popen(
        [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    probe = httpx.Client(timeout=1, trust_env=False)  # one client: each new one builds an SSL context

    def answering() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"anvil exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
            return probe.post(url, json=body).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        try:
            wait_for(answering, timeout_s=30, what="anvil to answer")
        finally:
            probe.close()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
