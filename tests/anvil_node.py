"""Start anvil (npm @foundry-rs/anvil, a dev dependency in contracts/) on a free loopback port;
stop it by its PID. Shared by the ledger, flow and demo tests and benchmarks/ledger_gas.py
(``tests/`` is on sys.path: ``pythonpath`` in pyproject.toml).

Each node starts from a genesis file of its own (``--init``) with a random coinbase: anvil's
genesis hash otherwise depends only on its settings and the second it starts in (it ignores a
genesis file's ``extraData`` and does not hash the genesis state), so two nodes started in the
same second would share ``Chain.key``, which keeps a home's records apart per chain. Everything
else is anvil's default: chain id 31337, the dev accounts, gas limit, base fee, hardfork (the
coinbase also receives later blocks' priority fees)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from waiting import wait_for

from eotrust.ports import free_port

REPO = Path(__file__).resolve().parents[1]
ANVIL = REPO / "contracts" / "node_modules" / ".bin" / "anvil"
MISSING = f"anvil is not installed at {ANVIL} (contracts/node_modules: run `make node`)"
#: anvil's own default chain id (a genesis file without one gives chain id 1, mainnet's).
CHAIN_ID = 31337


def genesis_file(directory: Path) -> Path:
    """A genesis for ``anvil --init``: anvil's defaults, stamped now, with a random coinbase."""
    genesis = {
        "config": {"chainId": CHAIN_ID},
        "timestamp": hex(int(time.time())),
        "coinbase": "0x" + os.urandom(20).hex(),
        "alloc": {},
    }
    path = directory / "genesis.json"
    path.write_text(json.dumps(genesis))
    return path


@contextmanager
def anvil() -> Iterator[str]:
    """A running anvil JSON-RPC node on a free loopback port (stopped by its PID); yields its URL.
    A missing anvil is a failure (`make test` installs it), never a skip."""
    assert ANVIL.exists(), MISSING
    port = free_port()
    scratch = tempfile.TemporaryDirectory(prefix="anvil-genesis-")
    proc = subprocess.Popen(
        [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--silent"]
        + ["--init", str(genesis_file(Path(scratch.name)))],
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
        scratch.cleanup()
