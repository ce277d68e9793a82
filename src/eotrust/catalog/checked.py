"""Records already checked, by the whole content of their row.

Reading a catalogue row checks it completely (:meth:`RecordRow.to_record`: the columns
against the signed body, the body against its id, the owner's signature) — about a millisecond
a row, most of it recovering the signer. A listing or a search reads every row it returns, so
each request for a catalogue of N records cost N of those, for anyone who asks. A record is
kept here under a SHA-256 of every column of the row it came from: the same row read again is
the same record, and a row changed in any way (a column, the body, the signature) is a new key
and is checked again; a row that fails its check is never kept. Bounded by the characters of
the bodies held, least recently used first out.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from eotrust.catalog.entries import Body, Record
from eotrust.catalog.records import RecordRow
from eotrust.errors import IntegrityError

#: Characters of signed bodies the cache holds at most (records are about their body's size).
MAX_CHARS = 64 * 1024 * 1024


def row_key(row: RecordRow) -> bytes:
    """A digest of the row's kind and every column's value."""
    digest = hashlib.sha256(type(row).__name__.encode())
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        digest.update(b"\x00" + column.key.encode() + b"\x01" + repr(value).encode())
    return digest.digest()


class CheckedRecords:
    """Checked records by :func:`row_key`; safe to share between threads."""

    def __init__(self, max_chars: int = MAX_CHARS) -> None:
        self.max_chars = max_chars
        self._lock = threading.Lock()
        self._records: OrderedDict[bytes, tuple[Record[Body], int]] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._records)

    def record_of(self, row: RecordRow) -> Record[Body]:
        """The checked record of ``row``: kept from an earlier read of the very same row, or
        checked now (IntegrityError for a row that fails, which is not kept)."""
        key = row_key(row)
        with self._lock:
            kept = self._records.get(key)
            if kept is not None:
                self._records.move_to_end(key)
                return kept[0]
        try:
            record = row.to_record()
        except (ValueError, TypeError) as exc:  # a value no record has (a number for a text column in SQLite)
            raise IntegrityError(
                f"catalogue {row.KIND.value} record {row.id}: the row is not a record ({exc})".splitlines()[0],
                hint="the row was altered",
            ) from None
        size = len(row.body)
        with self._lock:
            if key not in self._records and size <= self.max_chars:
                self._records[key] = (record, size)
                self._chars += size
                while self._chars > self.max_chars:
                    _, (_, dropped) = self._records.popitem(last=False)
                    self._chars -= dropped
        return record
