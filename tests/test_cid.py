"""eotrust.cid reproduces kubo's `ipfs add` CIDs, streaming, in constant memory."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Required, TypedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eotrust.cid import (
    CHUNK_SIZE,
    MAX_LINKS,
    DagImporter,
    cid_digest,
    cid_from_digest,
    cid_of_bytes,
    cid_of_file,
    cid_of_stream,
    to_v0,
    to_v1,
    validate_cid,
)
from eotrust.cid.unixfs import PBNode, UnixfsData, decode_node, encode_leaf, leaf_frame
from eotrust.errors import IntegrityError, InvalidInputError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class KuboVector(TypedDict, total=False):
    """One of kubo's vectors: the CID of ``size`` bytes of :func:`vector_content`, or of a text."""

    size: int
    content_utf8: str
    cid: Required[str]


VECTORS: list[KuboVector] = json.loads((Path(__file__).parent / "data" / "kubo_cid_vectors.json").read_text())


def vector_content(size: int) -> bytes:
    """``bytes(i % 251 for i in range(size))``, made fast."""
    return np.resize(np.arange(251, dtype=np.uint8), size).tobytes()


def content_of(vector: KuboVector) -> bytes:
    return vector["content_utf8"].encode() if "content_utf8" in vector else vector_content(vector["size"])


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: str(v.get("size", v.get("content_utf8"))))
def test_every_kubo_vector_matches(vector: KuboVector) -> None:
    assert cid_of_bytes(content_of(vector)) == vector["cid"]


@pytest.mark.parametrize("vector", [v for v in VECTORS if v.get("size", 0) > CHUNK_SIZE], ids=lambda v: str(v["size"]))
def test_kubo_vectors_from_files_and_streams(vector: KuboVector, tmp_path: Path) -> None:
    data = content_of(vector)
    path = tmp_path / "content"
    path.write_bytes(data)
    assert cid_of_file(path) == vector["cid"]
    assert cid_of_stream(io.BytesIO(data), workers=1) == vector["cid"]


def test_vector_content_helper_is_the_documented_one() -> None:
    assert vector_content(600) == bytes(i % 251 for i in range(600))


def test_tree_shape_over_174_leaves() -> None:
    """181 chunks: 181 leaves, a full branch of 174, one of 7, and a root over both."""
    blocks: list[bytes] = []
    data = vector_content(180 * CHUNK_SIZE + 1)
    with DagImporter(lambda mh, parts: blocks.append(b"".join(parts)), workers=1) as imp:
        imp.write(data)
        result = imp.finish()
    assert result.size == len(data)
    nodes = [decode_node(b) for b in blocks]
    branches = [n for n in nodes if n.links]
    assert len(nodes) == 181 + 3
    assert sorted(len(n.links) for n in branches) == [2, 7, MAX_LINKS]
    root = decode_node(blocks[-1])
    assert root.filesize == len(data) and len(root.links) == 2
    assert result.dag_size == sum(len(b) for b in blocks)


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(0, 3 * CHUNK_SIZE + 10),
    cuts=st.lists(st.integers(1, CHUNK_SIZE + 7), max_size=12),
    workers=st.sampled_from([1, 2, 3]),
)
def test_any_split_of_the_stream_gives_the_same_cid(size: int, cuts: list[int], workers: int) -> None:
    data = vector_content(size)
    with DagImporter(workers=workers) as imp:
        pos = 0
        for cut in cuts:
            imp.write(data[pos : pos + cut])
            pos += cut
        imp.write(data[pos:])
        got = imp.finish().cid
    assert got == cid_of_bytes(data)


class _Endless(io.RawIOBase):
    """``size`` pseudo-random bytes, generated on demand (never held whole)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = np.random.default_rng(1).integers(0, 256, CHUNK_SIZE, dtype=np.uint8).tobytes()

    def readable(self) -> bool:
        return True

    def readinto(self, buf: WriteableBuffer) -> int:
        view = memoryview(buf)
        n = min(len(view), self.left, CHUNK_SIZE)
        view[:n] = self.block[:n]
        self.left -= n
        return n


def test_streaming_memory_stays_constant() -> None:
    size = 96 * 1024 * 1024
    tracemalloc.start()
    try:
        cid_of_stream(_Endless(size))  # a raw stream: cid_of_stream only calls read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes for a {size}-byte stream"


def test_v0_v1_forms() -> None:
    v0 = "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    v1 = to_v1(v0)
    assert v1.startswith("bafy")
    assert to_v0(v1) == v0 == validate_cid(v1) == validate_cid(f"/ipfs/{v0}")
    assert cid_digest(v1) == cid_digest(v0)


def test_digest_roundtrip() -> None:
    cid = cid_of_bytes(b"hello world")
    digest = cid_digest(cid)
    assert len(digest) == 32
    assert cid_from_digest(digest) == cid
    # the digest is the sha2-256 of the root block, as the ledger will hold it
    block = PBNode(Data=UnixfsData(Type=2, Data=b"hello world", filesize=11).SerializeToString()).SerializeToString()
    assert digest == hashlib.sha256(block).digest()


@pytest.mark.parametrize("garbage", ["", "hello", "Qm123", "bafy!!!", "Qm" + "X" * 45, "0x1234"])
def test_garbage_is_a_clear_error(garbage: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_cid(garbage)
    assert "CID" in err.value.message


def test_other_codecs_are_refused_with_the_reason() -> None:
    raw = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"  # raw leaf, kubo --cid-version=1
    with pytest.raises(InvalidInputError, match="raw"):
        validate_cid(raw)


def test_wrong_digest_length() -> None:
    with pytest.raises(InvalidInputError):
        cid_from_digest(b"short")


def test_a_non_node_block_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError):
        decode_node(b"\xff\xff\xff not protobuf")


@pytest.mark.parametrize("size", [0, 1, 2, 127, 128, 16383, 16384, CHUNK_SIZE - 1, CHUNK_SIZE])
def test_leaf_framing_is_protobufs(size: int) -> None:
    chunk = vector_content(size)
    prefix, suffix = leaf_frame(size)
    assert prefix + chunk + suffix == encode_leaf(chunk)
