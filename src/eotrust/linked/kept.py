"""The catalogue graph a server built, kept until the catalogue changes.

Building the graph reads and describes every record (seconds with thousands), and
``GET /linked-data`` and ``/sparql`` are open to anyone: built on each request, a client asking
in a loop cost the server far more than itself. The graph of each base URL is kept here with
the change signal it was built under (a digest of every row of the catalogue's tables, read
from the database, so that a record written by another process is seen too, and the chain's
newest block); a request under the same signal gets the same store and the same serialised
answers (its Turtle or JSON-LD, and the N-Quads each SPARQL query's process is fed), and any
other signal builds it afresh."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

#: Base URLs (the Host a client names) whose graph is kept at once, least recently used out.
MAX_BASES = 4


@dataclass
class _Kept:
    signal: Hashable
    store: Any
    answers: dict[str, Any] = field(default_factory=dict)


class KeptGraphs:
    """Catalogue graphs by base URL, each with the signal it was built under; thread-safe."""

    def __init__(self, max_bases: int = MAX_BASES) -> None:
        self.max_bases = max_bases
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, _Kept] = OrderedDict()

    def _entry(self, base: str, signal: Hashable, build: Callable[[], Any]) -> _Kept:
        with self._lock:
            kept = self._kept.get(base)
            if kept is not None and kept.signal == signal:
                self._kept.move_to_end(base)
                return kept
        kept = _Kept(signal, build())  # built outside the lock: the SPARQL slots bound how many at once
        with self._lock:
            self._kept[base] = kept
            self._kept.move_to_end(base)
            while len(self._kept) > self.max_bases:
                self._kept.popitem(last=False)
        return kept

    def answer(
        self, base: str, signal: Hashable, build: Callable[[], Any], name: str, write: Callable[[Any], Any]
    ) -> Any:
        """``write(store)`` for the graph of ``base`` under ``signal``, kept by ``name`` beside it."""
        kept = self._entry(base, signal, build)
        with self._lock:
            if name in kept.answers:
                return kept.answers[name]
        answer = write(kept.store)
        with self._lock:
            kept.answers[name] = answer
        return answer
