"""The DAG layout of kubo's default ``ipfs add``: fixed 256 KiB chunks, one UnixFS leaf per
chunk, and a balanced tree of branches with at most 174 links each.

:class:`DagImporter` builds it bottom-up while the bytes stream in, so memory stays constant
whatever the size: one list of at most 174 links per level, and a bounded window of chunks
being hashed. Leaves are hashed (and handed to the block sink) on a thread pool: hashlib
releases the GIL on large buffers, so two workers keep two cores busy.

Why bottom-up gives kubo's tree: go-unixfs's balanced builder grows the root one level at a
time and fills each new subtree completely before starting the next, so every subtree but
the right-most of each level is full. Here a level is closed into a branch as soon as it
holds 174 links (that branch is final whatever follows), and at the end the partial levels
are closed from the bottom up; a lone node at the top is the root. One chunk is its own
root (no branch over a single leaf at the top); an inner partial level with one link still
gets its branch, as in go-unixfs.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from eotrust.cid.codec import cid_from_multihash, multihash_of
from eotrust.cid.unixfs import Link, encode_branch, leaf_frame

CHUNK_SIZE = 256 * 1024
MAX_LINKS = 174
_SMALL = 4 * CHUNK_SIZE  # below this a thread pool costs more than it saves

BlockSink = Callable[[bytes, Sequence[bytes]], None]
"""Called with (multihash, parts) for every block, where the block is the concatenation of
the parts (a leaf comes as its protobuf framing around the unchanged chunk, so it is never
copied). Called from worker threads, in no particular order: it must be thread-safe."""


class Readable(Protocol):
    """What the importer reads from: ``read(n)`` gives at most n bytes, b"" at the end (a
    binary file, a raw stream, a socket file, a decrypting pipe)."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class ImportResult:
    """What an import produced: the root CID (v0), the file size, and the total size of
    every block of the DAG (kubo's ``CumulativeSize``)."""

    cid: str
    size: int
    dag_size: int


class DagImporter:
    """Push bytes in with :meth:`write` (any piece sizes), then :meth:`finish` for the CID.

    ``sink`` receives every block (see :data:`BlockSink`); ``workers`` > 1 hashes leaves on
    that many threads. Use as a context manager (or call :meth:`close`) so the pool is shut
    down even when the caller fails half-way.
    """

    def __init__(self, sink: BlockSink | None = None, *, workers: int = 1) -> None:
        self._sink = sink
        self._workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[Link]] = deque()
        self._levels: list[list[Link]] = [[]]
        self._buf = bytearray()
        self._size = 0
        self._chunks = 0
        self._result: ImportResult | None = None

    # -- feeding -----------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Add the next bytes of the file."""
        if self._result is not None:
            raise ValueError("write after finish")
        n = len(data)
        if not n:
            return
        self._size += n
        if not self._buf and n == CHUNK_SIZE and isinstance(data, bytes):
            self._chunk(data)  # the common case (chunk-sized reads): no copy at all
            return
        view = memoryview(data).cast("B")
        if self._buf:
            take = CHUNK_SIZE - len(self._buf)
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) < CHUNK_SIZE:
                return
            self._chunk(bytes(self._buf))
            self._buf.clear()
        while len(view) >= CHUNK_SIZE:
            self._chunk(bytes(view[:CHUNK_SIZE]))  # a copy: the caller may reuse its buffer
            view = view[CHUNK_SIZE:]
        self._buf += view

    def write_from(self, stream: Readable, progress: Callable[[int], None] | None = None) -> None:
        """Read ``stream`` to its end in chunk-sized reads."""
        read = stream.read
        while True:
            piece = read(CHUNK_SIZE)
            if not piece:
                return
            self.write(piece)
            if progress is not None:
                progress(len(piece))

    def finish(self) -> ImportResult:
        """Close the DAG and return the root. Idempotent."""
        if self._result is not None:
            return self._result
        if self._buf or self._chunks == 0:
            self._chunk(bytes(self._buf))  # the last, short chunk; or the empty file's one leaf
            self._buf.clear()
        while self._pending:
            self._add(0, self._pending.popleft().result())
        self.close()
        root = self._close_levels()
        self._result = ImportResult(cid_from_multihash(root.multihash), self._size, root.tsize)
        return self._result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> DagImporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building ----------------------------------------------------------
    def _chunk(self, chunk: bytes) -> None:
        self._chunks += 1
        if self._workers == 1 or (self._pool is None and self._size <= _SMALL):
            self._add(0, self._leaf(chunk))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="cid-hash")
        self._pending.append(self._pool.submit(self._leaf, chunk))
        while len(self._pending) > 2 * self._workers:
            self._add(0, self._pending.popleft().result())

    def _leaf(self, chunk: bytes) -> Link:
        prefix, suffix = leaf_frame(len(chunk))
        h = hashlib.sha256(prefix)
        h.update(chunk)  # releases the GIL: leaves hash in parallel
        h.update(suffix)
        mh = multihash_of(h.digest())
        if self._sink is not None:
            self._sink(mh, (prefix, chunk, suffix))
        return Link(mh, len(prefix) + len(chunk) + len(suffix), len(chunk))

    def _branch(self, links: list[Link]) -> Link:
        block = encode_branch(links)
        mh = multihash_of(hashlib.sha256(block).digest())
        if self._sink is not None:
            self._sink(mh, (block,))
        return Link(mh, len(block) + sum(x.tsize for x in links), sum(x.filesize for x in links))

    def _add(self, level: int, link: Link) -> None:
        while True:
            if level == len(self._levels):
                self._levels.append([])
            links = self._levels[level]
            links.append(link)
            if len(links) < MAX_LINKS:
                return
            self._levels[level] = []
            link, level = self._branch(links), level + 1

    def _close_levels(self) -> Link:
        levels = self._levels
        top = max(i for i, links in enumerate(levels) if links)
        for level in range(top):
            if levels[level]:
                levels[level + 1].append(self._branch(levels[level]))
        links = levels[top]
        return links[0] if len(links) == 1 else self._branch(links)


def import_stream(
    stream: Readable,
    sink: BlockSink | None = None,
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Build the DAG of everything readable from ``stream``."""
    with DagImporter(sink, workers=workers) as importer:
        importer.write_from(stream, progress)
        return importer.finish()


def import_chunks(
    pieces: Iterable[bytes | memoryview], sink: BlockSink | None = None, *, workers: int = 1
) -> ImportResult:
    """Build the DAG of the concatenation of ``pieces``."""
    with DagImporter(sink, workers=workers) as importer:
        for piece in pieces:
            importer.write(piece)
        return importer.finish()


def cid_of_bytes(data: bytes) -> str:
    """The CIDv0 kubo's ``ipfs add`` gives these bytes."""
    view = memoryview(data)
    return import_chunks((view[i : i + CHUNK_SIZE] for i in range(0, len(view), CHUNK_SIZE)), workers=2).cid


def cid_of_stream(stream: Readable, *, workers: int = 2) -> str:
    """The CIDv0 of everything readable from ``stream`` (constant memory)."""
    return import_stream(stream, workers=workers).cid


def cid_of_file(path: Path, *, workers: int = 2) -> str:
    """The CIDv0 of a file's content."""
    with open(path, "rb", buffering=0) as f:
        return cid_of_stream(f, workers=workers)
