"""What a listing of the catalogue holds: the records that passed their check, and the rows it
left out because they did not.

The catalogue database may be shared with others (PostgreSQL), and its holder can write any
row. A row that fails its check (a bad signature, a body that is not the signed one or not JSON,
an id its content does not hash to, a column that does not load) is no record of anyone's, so a
listing leaves it out — as it would a deleted row — and says so (:attr:`Listing.skipped`),
instead of failing for everyone who lists. Reading that one record by its id still fails,
naming it (``Catalog.get``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from eotrust.catalog.entries import Kind

T = TypeVar("T")

#: Characters of a left-out row's id and reason kept (both are the row's holder's to write).
MAX_ID_CHARS = 200
MAX_REASON_CHARS = 400
#: Rows one warning line names at most (it counts them all).
NAMED_IN_A_LINE = 3

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _printable(text: str, most: int) -> str:
    """``text`` on one line, control characters and bidirectional overrides as escapes, cut
    to ``most`` characters."""
    text = _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text
    )
    return text if len(text) <= most else text[: most - 1] + "…"


@dataclass(frozen=True)
class Skipped:
    """A row a listing left out: its id (as the row holds it), its kind, and why."""

    id: str
    kind: Kind
    reason: str

    @classmethod
    def of(cls, row_id: object, kind: Kind, reason: str) -> Skipped:
        """``reason``: the check's message (its "catalogue KIND record ID: " prefix dropped)."""
        reason = reason.removeprefix(f"catalogue {kind.value} record {row_id}: ")
        return cls(id=_printable(str(row_id), MAX_ID_CHARS), kind=kind, reason=_printable(reason, MAX_REASON_CHARS))

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind.value, "reason": self.reason}


class Listing(list[T]):
    """A list of records, and the rows left out of it (:class:`Skipped`, in listing order)."""

    def __init__(self, items: Iterable[T] = (), skipped: Iterable[Skipped] = ()) -> None:
        super().__init__(items)
        self.skipped: list[Skipped] = list(skipped)


def skipped_line(skipped: Sequence[Skipped]) -> str:
    """One line saying how many rows were left out and why (the first few named)."""
    count = len(skipped)
    what = "1 catalogue record was" if count == 1 else f"{count} catalogue records were"
    named = "; ".join(f"{s.kind.value} {s.id}: {s.reason}" for s in skipped[:NAMED_IN_A_LINE])
    more = f"; and {count - NAMED_IN_A_LINE} more" if count > NAMED_IN_A_LINE else ""
    return f"{what} left out: the row failed its check ({named}{more})"
