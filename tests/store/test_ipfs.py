"""IpfsStore: every request and answer through httpx.MockTransport (no daemon needed), and the
same protocol against a real kubo daemon when EOTRUST_IPFS_API points at one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import numpy as np
import pytest

from eotrust.cid import CHUNK_SIZE, cid_of_bytes, to_v1
from eotrust.errors import BackendUnavailableError, IntegrityError, InvalidInputError, NotFoundError, StoreError
from eotrust.store import Store
from eotrust.store.ipfs import ADD_PARAMS, IpfsStore


def content(size: int) -> bytes:
    return np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8).tobytes()


def _multipart_file(request: httpx.Request) -> bytes:
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    body = request.read()
    part = body.split(b"--" + boundary)[1]
    return part.split(b"\r\n\r\n", 1)[1][: -len(b"\r\n")]


class FakeKubo:
    """Just enough of kubo's RPC API, with a record of what was asked."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.pins: set[str] = set()
        self.calls: list[httpx.Request] = []
        self.lie_about_cid = False
        self.corrupt_cat = False
        self.search_times_out = False

    def error(self, message: str) -> httpx.Response:
        return httpx.Response(500, json={"Message": message, "Code": 0, "Type": "error"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        assert request.method == "POST"
        command = request.url.path.removeprefix("/api/v0/")
        arg = request.url.params.get("arg", "")
        if command == "add":
            data = _multipart_file(request)
            cid = cid_of_bytes(data + b"!" if self.lie_about_cid else data)
            self.objects[cid] = data
            if request.url.params["pin"] == "true":
                self.pins.add(cid)
            return httpx.Response(200, text=json.dumps({"Name": cid, "Hash": cid, "Size": str(len(data))}) + "\n")
        if command == "cat":
            if self.search_times_out:
                return self.error("context deadline exceeded")
            if arg not in self.objects:
                return self.error(f"block was not found locally (offline): ipld: could not find {arg}")
            data = self.objects[arg]
            if self.corrupt_cat:
                data = data[:-1] + bytes([data[-1] ^ 1])
            return httpx.Response(200, content=data)
        if command == "block/stat":
            if arg not in self.objects:
                return self.error(f"block was not found locally (offline): ipld: could not find {arg}")
            return httpx.Response(200, json={"Key": arg, "Size": 11})
        if command == "pin/add":
            self.pins.add(arg)
            return httpx.Response(200, json={"Pins": [arg]})
        if command == "pin/rm":
            if arg not in self.pins:
                return self.error("not pinned or pinned indirectly")
            self.pins.remove(arg)
            return httpx.Response(200, json={"Pins": [arg]})
        if command == "pin/ls":
            return httpx.Response(200, json={"Keys": {c: {"Type": "recursive"} for c in self.pins}})
        if command == "files/stat":
            cid = arg.removeprefix("/ipfs/")
            return httpx.Response(200, json={"Hash": cid, "Size": len(self.objects[cid]), "Type": "file"})
        return httpx.Response(404, text="404 page not found")


@pytest.fixture
def kubo() -> FakeKubo:
    return FakeKubo()


@pytest.fixture
def store(kubo: FakeKubo) -> IpfsStore:
    return IpfsStore("http://kubo.test:5001", transport=httpx.MockTransport(kubo))


def test_is_a_store(store: IpfsStore) -> None:
    assert isinstance(store, Store)


@pytest.mark.parametrize("size", [0, 11, 3 * CHUNK_SIZE + 1])
def test_add_and_cat(store: IpfsStore, kubo: FakeKubo, tmp_path: Path, size: int) -> None:
    data = content(size)
    cid = store.put_bytes(data)
    assert cid == cid_of_bytes(data)
    add = kubo.calls[0]
    assert add.url.path == "/api/v0/add"
    for key, value in ADD_PARAMS.items():
        assert add.url.params[key] == value
    assert add.url.params["pin"] == "true"
    assert store.get_bytes(cid) == data
    assert kubo.calls[-1].url.params["arg"] == cid and kubo.calls[-1].url.params["timeout"] == "60s"
    assert store.get_file(to_v1(cid), tmp_path / "out").read_bytes() == data
    store.verify(cid)


def test_put_without_pin(store: IpfsStore, kubo: FakeKubo) -> None:
    cid = store.put_bytes(b"x", pin=False)
    assert cid not in kubo.pins


def test_a_node_with_other_import_settings_is_caught(store: IpfsStore, kubo: FakeKubo) -> None:
    kubo.lie_about_cid = True
    with pytest.raises(IntegrityError, match="Import"):
        store.put_bytes(b"hello world")


def test_corrupt_cat_is_caught_and_nothing_is_written(store: IpfsStore, kubo: FakeKubo, tmp_path: Path) -> None:
    cid = store.put_bytes(content(CHUNK_SIZE + 5))
    kubo.corrupt_cat = True
    with pytest.raises(IntegrityError):
        store.get_bytes(cid)
    with pytest.raises(IntegrityError):
        store.get_file(cid, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_has_pin_unpin_list(store: IpfsStore, kubo: FakeKubo) -> None:
    a = store.put_bytes(b"a", pin=False)
    assert store.has(a)
    assert kubo.calls[-1].url.path == "/api/v0/block/stat" and kubo.calls[-1].url.params["offline"] == "true"
    assert not store.has(cid_of_bytes(b"absent"))
    assert list(store.list()) == []
    store.pin(a)
    (obj,) = store.list()
    assert obj.cid == a and obj.size == 1 and obj.pinned
    store.unpin(a)
    store.unpin(a)  # "not pinned" is not an error
    assert list(store.list()) == []


def test_absent_object(store: IpfsStore, kubo: FakeKubo) -> None:
    with pytest.raises(NotFoundError):
        store.get_bytes(cid_of_bytes(b"absent"))
    kubo.search_times_out = True  # kubo's answer when its network search runs out of time
    with pytest.raises(NotFoundError, match="nor found on its network within 60 s"):
        store.get_bytes(cid_of_bytes(b"absent"))
    with pytest.raises(InvalidInputError):
        store.get_bytes("nonsense")


def test_node_errors_are_store_errors() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"Message": "repo is locked", "Code": 0, "Type": "error"})

    store = IpfsStore("http://kubo.test:5001", transport=httpx.MockTransport(broken))
    with pytest.raises(StoreError, match="repo is locked"):
        store.pin(cid_of_bytes(b"a"))


def test_unreachable_node_says_what_to_do() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    store = IpfsStore("http://kubo.test:5001", transport=httpx.MockTransport(refuse))
    with pytest.raises(BackendUnavailableError) as err:
        store.put_bytes(b"a")
    assert "EOTRUST_IPFS_API" in str(err.value)


# -- a real kubo daemon ---------------------------------------------------------


def _real_api() -> str:
    api = os.environ.get("EOTRUST_IPFS_API")
    if not api:  # environment-conditional: a kubo daemon is not part of `make test`
        pytest.skip("no kubo daemon: set EOTRUST_IPFS_API=http://127.0.0.1:5001 to test against one")
    try:
        httpx.post(f"{api.rstrip('/')}/api/v0/version", timeout=3).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(f"EOTRUST_IPFS_API names a kubo daemon at {api}, which is not reachable ({exc})")
    return api


@pytest.mark.server
def test_real_kubo_daemon(tmp_path: Path) -> None:
    store = IpfsStore(_real_api())
    vectors = json.loads((Path(__file__).parents[1] / "data" / "kubo_cid_vectors.json").read_text())
    data = np.resize(np.arange(251, dtype=np.uint8), 1048593).tobytes()
    expected = next(v["cid"] for v in vectors if v.get("size") == 1048593)
    assert store.put_bytes(data) == expected
    assert store.has(expected)
    assert store.get_bytes(expected) == data
    assert expected in {o.cid for o in store.list()}
    store.unpin(expected)
    assert expected not in {o.cid for o in store.list()}
