"""The embedded chains the agent keeps open, so that a command's child starts with its chain
loaded instead of reading the snapshot and journal again.

At most ``size`` chains, by chain directory, least recently used dropped first. Before each
fork the chain of the request is brought up to date with its journal (``sync``), after a check
that the journal is still the file it was opened from: same inode, at least as long, and the
same bytes just before the offset already applied. A journal that was replaced, truncated or
rewritten (a home deleted and made again) drops the warm chain, and it is opened afresh.

Staleness cannot arise from the warm chain being behind: the embedded provider catches up
with the journal before every request it serves (``EmbeddedProvider.make_request``), in the
child as in any process, and writers append under the journal lock after catching up.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from eotrust.ledger.backend import EmbeddedBackend

#: bytes before the applied offset compared on each use
TAIL = 64


@dataclass
class _Entry:
    backend: EmbeddedBackend
    inode: tuple[int, int]
    tail: bytes


def _journal(directory: Path) -> Path:
    return directory / "embedded.journal"


def _tail(path: Path, offset: int) -> bytes:
    with open(path, "rb") as fh:
        start = max(offset - TAIL, 0)
        fh.seek(start)
        return fh.read(offset - start)


class WarmChains:
    """An LRU of open embedded chains (:class:`EmbeddedBackend`) by chain directory."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: OrderedDict[Path, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def directories(self) -> list[str]:
        return [str(d) for d in self._entries]

    def get(self, directory: Path) -> EmbeddedBackend | None:
        """The chain under ``directory``, opened or kept and synced with its journal; None
        when it has no journal yet (the agent never creates a chain: the command does)."""
        journal = _journal(directory)
        try:
            info = os.stat(journal)
        except OSError:
            info = None
        if info is None or info.st_size == 0:  # no chain yet, or its first writer is writing it
            self._entries.pop(directory, None)
            return None
        entry = self._entries.get(directory)
        if entry is not None and not self._same_journal(entry, journal, info):
            del self._entries[directory]
            entry = None
        if entry is None:
            entry = _Entry(EmbeddedBackend(directory), (info.st_dev, info.st_ino), b"")
            self._entries[directory] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(directory)
            entry.backend.provider.sync()
        entry.tail = _tail(journal, entry.backend.provider.journal.offset)
        return entry.backend

    @staticmethod
    def _same_journal(entry: _Entry, journal: Path, info: os.stat_result) -> bool:
        offset = entry.backend.provider.journal.offset
        if (info.st_dev, info.st_ino) != entry.inode or info.st_size < offset:
            return False
        try:
            return _tail(journal, offset) == entry.tail
        except OSError:
            return False
