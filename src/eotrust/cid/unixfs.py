"""The two protobuf layers of an IPFS file node: dag-pb (``PBNode``/``PBLink``) around
UnixFS (``Data``). The schemas are those of the IPFS specs, declared here as descriptors
for the protobuf runtime (no generated code); encoding and parsing are protobuf's own.

A leaf is ``PBNode{Data: Data{Type: File, Data: chunk, filesize: len(chunk)}}``; a branch
is ``PBNode{Links: [...], Data: Data{Type: File, filesize: total, blocksizes: [...]}}`` with
every link named ``""`` — the bytes go-unixfs writes, hence kubo's CIDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from eotrust.errors import IntegrityError

_PKG = "eotrust.unixfs"


def _build_messages() -> tuple[Any, Any]:  # message classes made at run time: untyped
    f = descriptor_pb2.FieldDescriptorProto
    opt, rep, req = f.LABEL_OPTIONAL, f.LABEL_REPEATED, f.LABEL_REQUIRED
    fd = descriptor_pb2.FileDescriptorProto(name="eotrust_unixfs.proto", package=_PKG, syntax="proto2")
    link = fd.message_type.add(name="PBLink")
    link.field.add(name="Hash", number=1, type=f.TYPE_BYTES, label=opt)
    link.field.add(name="Name", number=2, type=f.TYPE_STRING, label=opt)
    link.field.add(name="Tsize", number=3, type=f.TYPE_UINT64, label=opt)
    node = fd.message_type.add(name="PBNode")
    node.field.add(name="Links", number=2, type=f.TYPE_MESSAGE, label=rep, type_name=f".{_PKG}.PBLink")
    node.field.add(name="Data", number=1, type=f.TYPE_BYTES, label=opt)
    data = fd.message_type.add(name="Data")
    kinds = data.enum_type.add(name="DataType")
    for number, name in enumerate(("Raw", "Directory", "File", "Metadata", "Symlink", "HAMTShard")):
        kinds.value.add(name=name, number=number)
    data.field.add(name="Type", number=1, type=f.TYPE_ENUM, label=req, type_name=f".{_PKG}.Data.DataType")
    data.field.add(name="Data", number=2, type=f.TYPE_BYTES, label=opt)
    data.field.add(name="filesize", number=3, type=f.TYPE_UINT64, label=opt)
    data.field.add(name="blocksizes", number=4, type=f.TYPE_UINT64, label=rep)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName(f"{_PKG}.PBNode")), get(pool.FindMessageTypeByName(f"{_PKG}.Data"))


PBNode, UnixfsData = _build_messages()
RAW, FILE = 0, 2


@dataclass(frozen=True)
class Link:
    """A child of a branch: its multihash, the cumulative size of its sub-DAG's blocks
    (``Tsize``), and how many file bytes it holds."""

    multihash: bytes
    tsize: int
    filesize: int


@dataclass(frozen=True)
class FileNode:
    """A parsed UnixFS file node: ``data`` for a leaf, ``links`` (with their file sizes
    from ``blocksizes``) for a branch."""

    data: bytes
    links: tuple[Link, ...]
    filesize: int


def encode_leaf(chunk: bytes) -> bytes:
    """The dag-pb block of one chunk of file data."""
    if chunk:
        inner = UnixfsData(Type=FILE, Data=chunk, filesize=len(chunk))
    else:  # the empty file: kubo writes no Data field at all
        inner = UnixfsData(Type=FILE, filesize=0)
    return bytes(PBNode(Data=inner.SerializeToString()).SerializeToString())


@lru_cache(maxsize=16)
def leaf_frame(size: int) -> tuple[bytes, bytes]:
    """What protobuf writes before and after ``size`` bytes of data in a leaf block, so that
    ``prefix + chunk + suffix == encode_leaf(chunk)`` for any chunk of that size.

    Found by encoding two leaves of that size that differ in every data byte: lets the hot
    path hash and write a chunk without copying it into a message (twice) and out again.
    """
    if size == 0:
        return encode_leaf(b""), b""
    a, b = encode_leaf(b"\x00" * size), encode_leaf(b"\xff" * size)
    start = next(i for i in range(len(a)) if a[i] != b[i])
    end = start + size
    if a[end:] != b[end:] or len(a) != len(b):
        raise AssertionError("leaf encoding is not prefix + data + suffix")
    return a[:start], a[end:]


def encode_branch(links: Sequence[Link]) -> bytes:
    """The dag-pb block of an inner node over ``links``."""
    inner = UnixfsData(Type=FILE, filesize=sum(x.filesize for x in links), blocksizes=[x.filesize for x in links])
    node = PBNode()
    for x in links:
        node.Links.add(Hash=x.multihash, Name="", Tsize=x.tsize)
    # dag-pb's canonical form puts Links (field 2) before Data (field 1), which protobuf,
    # writing fields by number, will not; two serialised messages concatenate into one.
    return bytes(node.SerializeToString() + PBNode(Data=inner.SerializeToString()).SerializeToString())


def decode_node(block: bytes, *, name: str = "block") -> FileNode:
    """Parse a UnixFS file block; IntegrityError if it is not one (``name`` says which)."""
    try:
        node = PBNode.FromString(block)
        inner = UnixfsData.FromString(node.Data)
    except DecodeError:
        raise IntegrityError(f"{name} is not a dag-pb UnixFS node") from None
    if inner.Type not in (FILE, RAW):
        raise IntegrityError(f"{name} is a UnixFS {UnixfsData.DataType.Name(inner.Type)} node, not a file")
    if len(node.Links) != len(inner.blocksizes):
        raise IntegrityError(f"{name} has {len(node.Links)} links but {len(inner.blocksizes)} block sizes")
    links = tuple(Link(bytes(x.Hash), x.Tsize, size) for x, size in zip(node.Links, inner.blocksizes))
    data = bytes(inner.Data)
    filesize = inner.filesize if inner.HasField("filesize") else len(data) + sum(x.filesize for x in links)
    if filesize != len(data) + sum(x.filesize for x in links):
        raise IntegrityError(f"{name} claims {filesize} bytes but holds {len(data) + sum(x.filesize for x in links)}")
    return FileNode(data=data, links=links, filesize=filesize)
