"""Bounded parsing: every JSON or YAML document that comes from outside (an HTTP body, a file
named on the command line, a stored workflow) is measured before it is parsed.

A hostile document does its damage while it is parsed or expanded: JSON nested 100,000 levels
deep exhausts the C stack of a recursive parser, and 600 bytes of nested YAML aliases expand to
billions of nodes. So the size is checked first, then the nesting depth (JSON: one linear pass
over the brackets outside strings; YAML: ruamel.yaml's own event stream, which never expands an
alias), then the number of nodes an alias expansion would produce; only a document within all
of them reaches the parser. Each limit has a default here; callers pass their own when a
document may be larger (a prediction body of up to ``max_upload_mb``)."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eotrust.errors import InvalidInputError, NotFoundError, RasterError


class ParseLimitError(InvalidInputError):
    """A document over one of the parsing limits (too deep, too many aliases): 400."""

    http_status = 400


class DocumentTooLarge(ParseLimitError):
    """A document over its size limit: 413."""

    http_status = 413


@dataclass(frozen=True)
class JsonLimits:
    """How large and how deep a JSON document may be."""

    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64


@dataclass(frozen=True)
class YamlLimits:
    """How large a YAML document may be, how deep, how many aliases it may use and how many
    nodes it may have once every alias is expanded."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 64
    max_aliases: int = 200
    max_nodes: int = 200_000


@dataclass(frozen=True)
class RasterLimits:
    """How much one raster another party hands over may make this machine do before a pixel is
    read. A GeoTIFF declares its size, block size and band count in a few header bytes, and a
    file of 666 bytes can declare one block of 45,056 x 45,056 px (2.1 GB once decoded) or a
    200,000 x 200,000 px scene (39 million tiles of 32 px)."""

    #: bytes of one decoded block (every band of it when the bands are interleaved by pixel):
    #: what GDAL allocates to read any pixel of it. A cube block of 256 x 256 px, 13 bands and
    #: 120 dates is 409 MiB (the dataset's tile limit is the same 512 MiB).
    max_block_bytes: int = 512 * 2**20
    #: bands of one raster: a cube of 120 dates x 13 bands has 1,560.
    max_bands: int = 10_000
    #: tiles `eo tile` or `eo dataset` cuts from one raster (the whole lattice, empty tiles
    #: included: each is read): a Sentinel-2 scene of 10,980 px in tiles of 32 px is 117,649.
    max_tiles: int = 1_000_000


@dataclass(frozen=True)
class VectorLimits:
    """How many features and vertices a label file another party hands over may hold: each
    vertex costs about 330 bytes while the polygons are reprojected and burnt."""

    max_features: int = 1_000_000
    #: vertices reprojected and burnt: those of each geometry's part within the scene's extent
    #: where the file is read for a scene (a national polygon is cut to it first), else all.
    max_vertices: int = 2_000_000
    #: vertices decoded before the geometries are cut to the scene (by the size of their WKB,
    #: 16 bytes a vertex, before any is built): at most 1,000,000 are decoded at a time, but one
    #: feature is decoded whole (some 24 bytes a vertex beside its WKB).
    max_decoded_vertices: int = 10_000_000


JSON_LIMITS = JsonLimits()
YAML_LIMITS = YamlLimits()
RASTER_LIMITS = RasterLimits()
VECTOR_LIMITS = VectorLimits()

# A JSON string, possessively (no backtracking: linear even on hostile input).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_CHUNK = 1 << 20


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)


_SMALL = 64 * 1024
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes | str, stop_at: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``data`` (brackets inside strings do not
    count); stops counting once ``stop_at`` is passed. Linear in the size, no recursion (and
    no numpy for a small document: the light processes read small ones)."""
    text = _STRING.sub(b'""', _as_bytes(data))
    deepest = level = 0
    if len(text) <= _SMALL:
        for b in text.translate(None, _NOT_BRACKETS):
            level += 1 if b in (0x5B, 0x7B) else -1
            if level > deepest:
                deepest = level
                if stop_at is not None and deepest > stop_at:
                    break
        return deepest
    import numpy as np

    for start in range(0, len(text), _CHUNK):
        chunk = np.frombuffer(text[start : start + _CHUNK], dtype=np.uint8)
        step = ((chunk == 0x5B) | (chunk == 0x7B)).astype(np.int32) - ((chunk == 0x5D) | (chunk == 0x7D))
        if not step.any():
            continue
        running = np.cumsum(step, dtype=np.int64) + level
        deepest = max(deepest, int(running.max()))
        level = int(running[-1])
        if stop_at is not None and deepest > stop_at:
            break
    return deepest


def check_json(data: bytes | str, limits: JsonLimits = JSON_LIMITS, what: str = "the JSON document") -> None:
    """Refuse ``data`` over ``limits`` (size: 413, depth: 400) without parsing it."""
    size = len(data)
    if size > limits.max_bytes:
        raise DocumentTooLarge(
            f"{what} is {size} bytes; the limit is {limits.max_bytes}", hint="send a smaller document"
        )
    depth = json_depth(data, stop_at=limits.max_depth)
    if depth > limits.max_depth:
        raise ParseLimitError(
            f"{what} is nested too deep (more than {limits.max_depth} levels)",
            hint=f"nest arrays and objects at most {limits.max_depth} levels deep",
        )


def json_loads(data: bytes | str, max_depth: int = JSON_LIMITS.max_depth) -> Any:
    """``json.loads`` for a document from outside (a file, a stored object, a peer), where the
    caller treats malformed JSON as a ``ValueError``: a document nested deeper than
    ``max_depth`` is malformed too, measured first (:func:`json_depth`) and never parsed.

    json's parser recurses once per level. Python's recursion limit normally stops it with a
    ``RecursionError``, which callers expecting ``ValueError`` let through as a traceback; and
    py_ecc, imported with eth-account by every process that signs, raises that limit to
    100,000, past what the C stack holds: there, 200,000 nested brackets are a segmentation
    fault. Every JSON parse in eotrust goes through here or :func:`load_json`."""
    if json_depth(data, stop_at=max_depth) > max_depth:
        raise ValueError(f"the JSON document is nested too deep (more than {max_depth} levels)")
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the JSON document is nested too deep to parse") from None


def load_json(data: bytes | str, limits: JsonLimits = JSON_LIMITS, what: str = "the JSON document") -> Any:
    """``json.loads(data)`` once ``data`` is within ``limits``; malformed JSON is an
    :class:`InvalidInputError` naming what was being read."""
    check_json(data, limits, what)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {str(exc)[:200]}") from None


def yaml_nodes(text: str, limits: YamlLimits = YAML_LIMITS, what: str = "the YAML document") -> int:
    """How many nodes ``text`` has with every alias expanded, measured on ruamel.yaml's event
    stream (nothing is composed or expanded); :class:`ParseLimitError` as soon as the depth,
    the number of aliases or the expanded size passes ``limits``."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.events import (
        AliasEvent,
        CollectionEndEvent,
        CollectionStartEvent,
        NodeEvent,
    )

    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = []  # (anchor, nodes so far) of each open collection
    total = aliases = 0

    def grow(count: int) -> None:
        nonlocal total
        total += count
        if total > limits.max_nodes:
            raise ParseLimitError(
                f"{what} expands to more than {limits.max_nodes} nodes",
                hint="YAML aliases (*name) must not multiply the document",
            )
        if stack:
            anchor, nodes = stack[-1]
            stack[-1] = (anchor, nodes + count)

    try:
        for event in YAML(typ="safe", pure=True).parse(io.StringIO(text)):
            if isinstance(event, AliasEvent):
                aliases += 1
                if aliases > limits.max_aliases:
                    raise ParseLimitError(
                        f"{what} uses more than {limits.max_aliases} aliases",
                        hint="write the values out instead of referring to anchors",
                    )
                grow(sizes.get(str(event.anchor), 1))
            elif isinstance(event, CollectionStartEvent):
                grow(1)
                stack.append((event.anchor, 1))
                if len(stack) > limits.max_depth:
                    raise ParseLimitError(f"{what} is nested too deep (more than {limits.max_depth} levels)")
            elif isinstance(event, CollectionEndEvent):
                anchor, nodes = stack.pop()
                if anchor is not None:
                    sizes[str(anchor)] = nodes
                if stack:  # the parent holds every node of its child
                    parent, parent_nodes = stack[-1]
                    stack[-1] = (parent, parent_nodes + nodes - 1)
            elif isinstance(event, NodeEvent):  # a scalar
                if event.anchor is not None:
                    sizes[str(event.anchor)] = 1
                grow(1)
    except YAMLError:
        return total  # the parser proper reports syntax errors with their line
    return total


def check_yaml(text: str, limits: YamlLimits = YAML_LIMITS, what: str = "the YAML document") -> None:
    """Refuse ``text`` over ``limits`` (size: 413; depth, aliases, expanded nodes: 400) before
    anything builds it."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise DocumentTooLarge(f"{what} is {size} bytes; the limit is {limits.max_bytes}", hint="split the document")
    yaml_nodes(text, limits, what)


def load_yaml(text: str, limits: YamlLimits = YAML_LIMITS, what: str = "the YAML document") -> Any:
    """Plain data of a YAML document (the safe loader) once it is within ``limits``."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    check_yaml(text, limits, what)
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise InvalidInputError(f"{what} is not valid YAML: {str(exc).strip().splitlines()[-1][:200]}") from None


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a file (missing, a folder, a device, pipe or socket —
    ``/dev/zero`` would be read, or hashed, without end), or None when it is a regular file."""
    try:
        mode = os.stat(os.fspath(path)).st_mode
    except (OSError, ValueError):
        return "does not exist"
    return _mode_problem(mode)


def _mode_problem(mode: int) -> str | None:
    """Why a file of this ``st_mode`` cannot be read as a file, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder: give a file"
    return "is not a regular file (a pipe, socket or device)"


def regular_file(path: str | os.PathLike[str], what: str) -> str:
    """``path`` if it names a regular file; else one error saying what it is instead
    (:func:`file_problem`): NotFoundError when it is missing, InvalidInputError otherwise."""
    name = os.fspath(path)
    problem = file_problem(name)
    if problem is None:
        return name
    error = InvalidInputError if os.path.exists(name) else NotFoundError
    raise error(f"{what} {name} {problem}", hint="give a file")


def read_document(path: str | os.PathLike[str], *, max_bytes: int, what: str) -> bytes:
    """The bytes of a file named from outside, read no further than ``max_bytes``: a larger
    file, or an endless one (``/dev/zero``), is :class:`DocumentTooLarge` without being
    read whole. A pipe or socket is :class:`InvalidInputError`: it is opened without waiting (a
    FIFO's open waits for a writer forever) and judged by the opened descriptor. OSError
    (missing, a folder, unreadable) propagates for the caller to name."""
    name = os.fspath(path)
    fd = _open_without_waiting(name)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            raise InvalidInputError(f"{what} {name} {_mode_problem(mode)}", hint="give a file")
        if stat.S_ISDIR(mode):  # as open() says it: an OSError naming the path
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        os.set_blocking(fd, True)
        data = _read_at_most(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise DocumentTooLarge(f"{what} {name} is larger than {max_bytes:,} bytes")
    return data


def _open_without_waiting(name: str) -> int:
    """A read-only descriptor of ``name``, opened without waiting for a FIFO's writer and
    without becoming a controlling terminal; blocking is set again by the caller once the
    descriptor has been judged."""
    return os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)


def _read_at_most(fd: int, limit: int) -> bytes:
    """The bytes of ``fd`` up to its end or ``limit``, whichever comes first."""
    chunks: list[bytes] = []
    got = 0
    while got < limit:
        chunk = os.read(fd, min(_CHUNK, limit - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_regular_file(path: str | os.PathLike[str], *, max_bytes: int, what: str) -> bytes:
    """The bytes of a regular file named from outside (or found where anyone may leave one: a
    working directory), read no further than ``max_bytes``. It is opened without waiting (a
    FIFO's open would wait for a writer forever) and judged by the opened descriptor, so a file
    swapped for a FIFO or a device after a look is refused all the same: a folder, pipe, socket
    or device is :class:`InvalidInputError`, a larger file :class:`DocumentTooLarge`, both
    without being read. OSError (missing, unreadable) propagates for the caller to name."""
    name = os.fspath(path)
    fd = _open_without_waiting(name)
    try:
        seen = os.fstat(fd)
        problem = _mode_problem(seen.st_mode)  # judged by the opened descriptor, not by a look before
        if problem is not None:
            raise InvalidInputError(f"{what} {name} {problem}", hint="give a file")
        if seen.st_size > max_bytes:
            raise DocumentTooLarge(f"{what} {name} is larger than {max_bytes:,} bytes")
        os.set_blocking(fd, True)
        data = _read_at_most(fd, max_bytes + 1)  # the size seen may grow while it is read: never past the bound
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise DocumentTooLarge(f"{what} {name} is larger than {max_bytes:,} bytes")
    return data


def half_of_memory() -> int:
    """Bytes one allocation may take before it is refused: half this machine's physical memory
    (8 GiB where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def check_raster_layout(ds: Any, path: Path | str, limits: RasterLimits | None = None) -> None:
    """RasterError when the header of an open raster declares more bands, or a larger block,
    than :class:`~eotrust.limits.RasterLimits` allows — before a pixel is read. GDAL decodes a
    whole block to read any pixel of it (every band of it, in a GeoTIFF interleaved by pixel),
    and a header of a few bytes can declare one block of 45,056 x 45,056 px: 2.1 GB from a
    666-byte file.

    Here, in the bottom layer, so that every reader of a raster another party hands over uses it:
    ``eo``'s ``open_raster``, ``ml``'s scene scoring, ``catalog``'s ``describe_raster``, the API's
    uploads."""
    import numpy as np
    from rasterio.enums import Interleaving

    limits = limits or RASTER_LIMITS
    if ds.count > limits.max_bands:
        raise RasterError(
            f"{path} declares {ds.count:,} bands; at most {limits.max_bands:,} are read",
            hint="split the raster into fewer bands per file",
        )
    if ds.count < 1:
        raise RasterError(f"{path} has no band", hint="give a GeoTIFF with at least one band")
    if any("complex" in dtype for dtype in ds.dtypes):
        raise RasterError(f"{path} holds complex pixel values ({ds.dtypes[0]}); eotrust reads real numbers")
    itemsize = max(np.dtype(d).itemsize for d in ds.dtypes)
    rows, cols = max(ds.block_shapes, key=lambda shape: shape[0] * shape[1])
    per_pixel = ds.count if ds.interleaving == Interleaving.pixel else 1
    block = int(rows) * int(cols) * per_pixel * itemsize
    if block > limits.max_block_bytes:
        raise RasterError(
            f"{path} declares blocks of {cols:,} x {rows:,} px ({per_pixel} band(s) of {itemsize} bytes each): "
            f"{block:,} bytes decoded per block; at most {limits.max_block_bytes:,} are read",
            hint="rewrite it tiled, e.g. gdal_translate -co TILED=YES IN OUT",
        )
