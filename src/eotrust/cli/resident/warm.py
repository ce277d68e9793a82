"""The embedded chains the agent keeps open, so that a command's child starts with its chain
loaded instead of reading the snapshot and journal again.

At most ``size`` chains, by chain directory, least recently used dropped first. Before each
fork the chain of the request is brought up to date with its journal (``sync``), after a check
that the journal still holds the bytes already applied: the file's identity, length,
modification and change times are compared with those seen when the chain was opened or
last synced, and when any of them differs, the SHA-256 of the journal up to the applied offset
is compared with the one taken then (as a snapshot is checked against its journal,
:func:`eotrust.ledger.embedded.read_snapshot`). A journal that was replaced, truncated or
edited in place (one flipped byte in the middle: refused by every command without the agent)
drops the warm chain; it is opened afresh, which refuses a corrupt journal as any process
does, and the command runs without a warm chain and refuses it itself.

Staleness cannot arise from the warm chain being behind: the embedded provider catches up
with the journal before every request it serves (``EmbeddedProvider.make_request``), in the
child as in any process, and writers append under the journal lock after catching up.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eotrust.ledger.backend import EmbeddedBackend
from eotrust.ledger.embedded import hash_journal_range

#: What a journal's stat says about its bytes: device, inode, size, modification and change
#: times (the change time moves on every write, and no user sets it back).
Stamp = tuple[int, int, int, int, int]


@dataclass
class _Entry:
    backend: EmbeddedBackend
    stamp: Stamp  # the journal's, when ``digest`` was taken
    offset: int  # the journal bytes ``digest`` covers: those applied to ``backend``
    digest: Any  # hashlib's SHA-256 of the journal's first ``offset`` bytes, still open


def _journal(directory: Path) -> Path:
    return directory / "embedded.journal"


def _stamp(info: os.stat_result) -> Stamp:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


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
        when it has no journal yet (the agent never creates a chain: the command does) or it
        changed while it was read (the command opens it itself)."""
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
            backend = EmbeddedBackend(directory)  # a corrupt journal raises, as in any process
            entry = _Entry(backend, _stamp(info), 0, hashlib.sha256())
            self._entries[directory] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(directory)
            entry.backend.provider.sync()
        # the digest now covers what was applied; a write since ``info`` (another process's
        # append, or an edit racing this read) leaves the chain cold, never trusted
        offset = entry.backend.provider.journal.offset
        try:
            whole = hash_journal_range(journal, entry.digest, entry.offset, offset)
            now = _stamp(os.stat(journal))
        except OSError:
            whole, now = False, None
        if not whole or now != _stamp(info):
            del self._entries[directory]
            return None
        entry.offset, entry.stamp = offset, now
        return entry.backend

    @staticmethod
    def _same_journal(entry: _Entry, journal: Path, info: os.stat_result) -> bool:
        """Whether the journal still holds the bytes applied to the entry's chain."""
        stamp = _stamp(info)
        if stamp == entry.stamp:
            return True  # untouched since the digest was taken
        if stamp[:2] != entry.stamp[:2] or info.st_size < entry.offset:
            return False  # another file, or cut short
        digest = hashlib.sha256()
        try:
            return hash_journal_range(journal, digest, 0, entry.offset) and digest.digest() == entry.digest.digest()
        except OSError:
            return False
