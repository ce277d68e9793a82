"""LocalStore: kubo's CIDs, atomic writes, corruption always caught, safe across processes."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from eotrust.cid import CHUNK_SIZE, cid_of_bytes, to_v1
from eotrust.errors import IntegrityError, InvalidInputError, NotFoundError
from eotrust.settings import Settings
from eotrust.store import LocalStore, Store, open_store
from eotrust.store.ipfs import IpfsStore


def content(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def pack_of(store: LocalStore, cid: str) -> Path:
    path = store.object_path(cid)
    assert path.is_file()
    return path


def test_is_a_store(store: LocalStore) -> None:
    assert isinstance(store, Store)


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5])
def test_roundtrip_bytes_stream_file(store: LocalStore, tmp_path: Path, size: int) -> None:
    data = content(size)
    cid = store.put_bytes(data)
    assert cid == cid_of_bytes(data)
    assert store.get_bytes(cid) == data
    assert store.get_bytes(to_v1(cid)) == data
    src = tmp_path / "src"
    src.write_bytes(data)
    assert store.put_file(src) == cid
    with open(src, "rb") as f:
        assert store.put_stream(f) == cid
    out = store.get_file(cid, tmp_path / "out")
    assert out.read_bytes() == data
    store.verify(cid)


def test_kubo_vector_through_the_store(store: LocalStore) -> None:
    data = np.resize(np.arange(251, dtype=np.uint8), 1048593).tobytes()
    assert store.put_bytes(data) == "QmTXgNTp1CnApNc1b7kAFiVoYf53oRETMEesbc39bSMTss"


def test_open_streams_in_pieces(store: LocalStore) -> None:
    data = content(2 * CHUNK_SIZE + 3)
    cid = store.put_bytes(data)
    with store.open(cid) as f:
        parts = []
        while piece := f.read(100_000):
            parts.append(piece)
    assert b"".join(parts) == data


def test_has_pin_unpin_list(store: LocalStore) -> None:
    a = store.put_bytes(b"a", pin=False)
    b = store.put_bytes(b"b")
    assert store.has(a) and store.has(to_v1(b))
    assert not store.has(cid_of_bytes(b"c"))
    listed = {o.cid: o for o in store.list()}
    assert set(listed) == {a, b}
    assert listed[a].size == 1 and not listed[a].pinned and listed[b].pinned
    store.pin(a)
    store.unpin(b)
    store.unpin(b)  # idempotent
    listed = {o.cid: o for o in store.list()}
    assert listed[a].pinned and not listed[b].pinned


def test_absent_and_invalid(store: LocalStore, tmp_path: Path) -> None:
    missing = cid_of_bytes(b"never stored")
    with pytest.raises(NotFoundError):
        store.get_bytes(missing)
    with pytest.raises(NotFoundError):
        store.pin(missing)
    with pytest.raises(InvalidInputError):
        store.get_bytes("not-a-cid")
    with pytest.raises(NotFoundError):
        store.put_file(tmp_path / "no-such-file")
    with pytest.raises(InvalidInputError):
        store.put_file(tmp_path)


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset % len(raw)] ^= 0x01
    path.write_bytes(bytes(raw))


def _caught_everywhere(store: LocalStore, cid: str, dest: Path) -> None:
    with pytest.raises(IntegrityError):
        store.verify(cid)
    with pytest.raises(IntegrityError):
        store.get_bytes(cid)
    with pytest.raises(IntegrityError):
        store.get_file(cid, dest)
    assert not dest.exists() and not list(dest.parent.glob(f".{dest.name}*"))


@hsettings(max_examples=40, deadline=None)
@given(offset=st.integers(0, 10**9), seed=st.integers(0, 3))
def test_any_one_byte_corruption_is_caught(tmp_path_factory: pytest.TempPathFactory, offset: int, seed: int) -> None:
    store = LocalStore(tmp_path_factory.mktemp("s"))
    cid = store.put_bytes(content(2 * CHUNK_SIZE + 1000, seed))
    _flip(pack_of(store, cid), offset)
    _caught_everywhere(store, cid, tmp_path_factory.mktemp("out") / "object")


def test_every_byte_outside_the_data_is_guarded(store: LocalStore, tmp_path: Path) -> None:
    """Headers, links, index and footer of a 3-leaf object: each byte, one at a time."""
    data = content(2 * CHUNK_SIZE + 1000)
    cid = store.put_bytes(data)
    pack = pack_of(store, cid)
    good = pack.read_bytes()
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]
    ranges = [(good.find(c), good.find(c) + len(c)) for c in chunks]
    assert all(start >= 0 for start, _ in ranges)
    structural = [i for i in range(len(good)) if not any(a <= i < b for a, b in ranges)]
    assert 300 < len(structural) < 2000
    for i in structural:
        _flip(pack, i)
        with pytest.raises(IntegrityError):
            store.verify(cid)
        pack.write_bytes(good)
    store.verify(cid)


def test_every_byte_of_a_small_object_is_guarded(store: LocalStore) -> None:
    cid = store.put_bytes(b"hello world")
    pack = pack_of(store, cid)
    good = pack.read_bytes()
    for i in range(len(good)):
        _flip(pack, i)
        with pytest.raises(IntegrityError):
            store.get_bytes(cid)
        pack.write_bytes(good)
    assert store.get_bytes(cid) == b"hello world"


def test_corruption_error_names_the_block(store: LocalStore) -> None:
    data = content(CHUNK_SIZE + 1)
    cid = store.put_bytes(data)
    pack = pack_of(store, cid)
    _flip(pack, pack.read_bytes().find(data[:CHUNK_SIZE]) + 500)
    with pytest.raises(IntegrityError, match=f"block .* of object {cid} is corrupt"):
        store.verify(cid)


def test_truncated_pack_is_reported(store: LocalStore) -> None:
    cid = store.put_bytes(content(CHUNK_SIZE + 1))
    pack = pack_of(store, cid)
    pack.write_bytes(pack.read_bytes()[:-1])
    with pytest.raises(IntegrityError, match="corrupt"):
        store.get_bytes(cid)
    assert [o.size for o in store.list()] == [-1]


def test_repeated_blocks_are_stored_once(store: LocalStore) -> None:
    cid = store.put_bytes(bytes(20 * CHUNK_SIZE))
    assert pack_of(store, cid).stat().st_size < 2 * CHUNK_SIZE
    assert store.get_bytes(cid) == bytes(20 * CHUNK_SIZE)


def test_stale_temporary_packs_are_cleaned(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    stale, fresh = store.root / "tmp" / "1-dead.pack", store.root / "tmp" / "2-writing.pack"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (0, 0))
    LocalStore(tmp_path / "s")
    assert not stale.exists() and fresh.exists()


def test_remove(store: LocalStore) -> None:
    cid = store.put_bytes(b"bye")
    store.remove(cid)
    assert not store.has(cid) and list(store.list()) == []


def test_failed_put_leaves_no_object(store: LocalStore) -> None:
    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 3:
                raise OSError("disk went away")
            return b"x" * CHUNK_SIZE

    with pytest.raises(OSError):
        store.put_stream(Broken())  # type: ignore[arg-type]
    assert list(store.list()) == []
    assert not list((store.root / "tmp").iterdir())


def test_no_temporary_files_left(store: LocalStore) -> None:
    store.put_bytes(content(3 * CHUNK_SIZE))
    store.put_bytes(content(3 * CHUNK_SIZE))  # again: the existing pack is kept
    assert not list((store.root / "tmp").iterdir())
    assert not [p for p in store.root.rglob("*") if p.name.startswith(".")]


def _put_many(root: str, seed: int, results: multiprocessing.Queue[tuple[int, str]]) -> None:
    store = LocalStore(Path(root))
    for i in range(4):
        data = content(CHUNK_SIZE + 17 * i, seed % 2)  # processes share half their content
        results.put((seed, store.put_bytes(data)))
        store.pin(cid_of_bytes(data))


def test_several_processes_share_one_store(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    LocalStore(root)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_put_many, args=(str(root), seed, results)) for seed in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cids = {results.get(timeout=5)[1] for _ in range(16)}
    store = LocalStore(root)
    assert {o.cid for o in store.list()} == cids
    for cid in cids:
        store.verify(cid)


def test_open_store_follows_settings(settings: Settings) -> None:
    assert isinstance(open_store(settings), LocalStore)
    ipfs = open_store(settings.model_copy(update={"store": "ipfs", "ipfs_api": "http://127.0.0.1:1"}))
    assert isinstance(ipfs, IpfsStore) and ipfs.api_url == "http://127.0.0.1:1"
