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

The agent opens chains in its only loop, for every client of this user, and a home may hold
anything (one planted or copied from elsewhere): so it keeps warm only a chain whose journal
and snapshot are regular files of at most ``max_bytes`` (:data:`MAX_WARM_BYTES`) each, and
opens one only when its journal lock is free at once. Anything else raises :class:`NotWarm`
before a byte of it is read (a warm chain whose journal grew past the bound is dropped); the
command then opens the chain itself, in its own child, as it would without the agent.
"""

from __future__ import annotations

import gc
import hashlib
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import Timeout

from eotrust.errors import EotrustError
from eotrust.ledger.backend import EmbeddedBackend
from eotrust.ledger.embedded import hash_journal_range, snapshot_path
from eotrust.store.lock import file_lock

#: The largest journal, and the largest snapshot, of a chain the agent opens and keeps warm
#: (about a third of a second to load on one core, twice as much in memory). Above it the
#: command's own child opens the chain: its time and memory end with it.
MAX_WARM_BYTES = 32 << 20

#: What a journal's stat says about its bytes: device, inode, size, modification and change
#: times (the change time moves on every write, and no user sets it back).
Stamp = tuple[int, int, int, int, int]


class NotWarm(EotrustError):
    """A chain the agent does not keep warm (why, in one line); the command opens it itself."""


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

    def __init__(self, size: int = 4, max_bytes: int = MAX_WARM_BYTES) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Path, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def directories(self) -> list[str]:
        return [str(d) for d in self._entries]

    def get(self, directory: Path) -> EmbeddedBackend | None:
        """The chain under ``directory``, opened or kept and synced with its journal; None
        when it has no journal yet (the agent never creates a chain: the command does) or it
        changed while it was read (the command opens it itself). Raises :class:`NotWarm`, having
        read none of it, for a chain over the bound or whose journal lock is held."""
        journal = _journal(directory)
        try:
            info = os.stat(journal)
        except OSError:
            info = None
        if info is None or info.st_size == 0:  # no chain yet, or its first writer is writing it
            self._entries.pop(directory, None)
            return None
        try:
            self._check_bounds(directory, info)
        except NotWarm:
            self._drop(directory)
            raise
        entry = self._entries.get(directory)
        if entry is not None and not self._same_journal(entry, journal, info):
            self._drop(directory)
            entry = None
        if entry is None:
            self._check_unlocked(directory)
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
            self._drop(directory)
            return None
        entry.offset, entry.stamp = offset, now
        return entry.backend

    def _check_bounds(self, directory: Path, journal: os.stat_result) -> None:
        """Raise NotWarm unless the journal, and the snapshot if there is one, are regular files
        of at most ``max_bytes`` (a snapshot is read whole, and its store kept, before the
        journal is looked at)."""
        if not stat.S_ISREG(journal.st_mode):
            raise NotWarm(f"{_journal(directory)} is not a regular file")
        try:
            snapshot: os.stat_result | None = os.stat(snapshot_path(directory))
        except FileNotFoundError:
            snapshot = None
        except OSError as exc:
            raise NotWarm(f"cannot look at {snapshot_path(directory)}: {exc.strerror}") from None
        for path, info in ((_journal(directory), journal), (snapshot_path(directory), snapshot)):
            if info is None:
                continue
            if not stat.S_ISREG(info.st_mode):
                raise NotWarm(f"{path} is not a regular file")
            if info.st_size > self.max_bytes:
                raise NotWarm(f"{path} holds {info.st_size} bytes, over the {self.max_bytes} the agent keeps warm")

    @staticmethod
    def _check_unlocked(directory: Path) -> None:
        """Raise NotWarm if another process holds the journal lock: opening waits for it, and
        the agent's loop serves every client (a lock held for ever would hold them all)."""
        lock = file_lock(directory / "embedded.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise NotWarm(f"{directory / 'embedded.lock'} is held by another process") from None
        except OSError as exc:
            raise NotWarm(f"cannot take {directory / 'embedded.lock'}: {exc.strerror}") from None
        lock.release()

    def _drop(self, directory: Path) -> None:
        """Forget the chain under ``directory``, and give its memory back now."""
        if self._entries.pop(directory, None) is not None:
            gc.collect()

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
