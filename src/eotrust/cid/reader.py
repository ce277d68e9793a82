"""Reading a file DAG back, block by block, checking every block against its name.

:class:`DagReader` walks the tree depth-first from the root, fetching one block at a time
through a callable (a directory of blocks, an HTTP API…), so memory stays at one block plus
the path from the root. A block whose sha2-256 does not match the multihash that names it,
or whose sizes disagree with what its parent recorded, stops the read with IntegrityError
before any of its bytes are handed out.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

from eotrust.cid.codec import cid_from_multihash, cid_multihash
from eotrust.cid.unixfs import Link, decode_node
from eotrust.errors import IntegrityError

GetBlock = Callable[[bytes], bytes]
"""Returns the bytes of the block with this multihash (raises NotFoundError if absent)."""


def checked_block(get_block: GetBlock, mh: bytes, root: str) -> bytes:
    """Fetch a block and check that its sha2-256 is the one its multihash names."""
    block = get_block(mh)
    if hashlib.sha256(block).digest() != mh[2:]:
        raise IntegrityError(
            f"block {cid_from_multihash(mh)} of object {root} is corrupt: its content does not match its hash",
            hint="fetch the object again from a good copy",
        )
    return block


class DagReader(io.RawIOBase):
    """A read-only stream of a file DAG's bytes, verified block by block."""

    def __init__(self, get_block: GetBlock, cid: str, *, on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._get = get_block
        self._on_close = on_close
        self.cid = cid
        root_mh = cid_multihash(cid)
        root = decode_node(checked_block(get_block, root_mh, cid), name=f"root block of {cid}")
        self.size = root.filesize
        # depth-first stack of (links still to read, in reverse order)
        self._stack: list[list[Link]] = [list(reversed(root.links))]
        self._current = memoryview(root.data)
        self._emitted = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()

    def _next_leaf(self) -> bool:
        while self._stack:
            pending = self._stack[-1]
            if not pending:
                self._stack.pop()
                continue
            link = pending.pop()
            name = f"block {cid_from_multihash(link.multihash)} of {self.cid}"
            node = decode_node(checked_block(self._get, link.multihash, self.cid), name=name)
            if node.filesize != link.filesize:
                raise IntegrityError(f"{name} holds {node.filesize} bytes but its parent says {link.filesize}")
            if node.links:
                self._stack.append(list(reversed(node.links)))
            if node.data:
                self._current = memoryview(node.data)
                return True
        return False

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._current:
            if not self._next_leaf():
                if self._emitted != self.size:
                    raise IntegrityError(f"object {self.cid} ended after {self._emitted} of {self.size} bytes")
                return 0
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        self._emitted += n
        return n
