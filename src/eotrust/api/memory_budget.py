"""How much memory the server's scoring requests may hold at once.

``POST /models/{cid}/predict`` reads its body into memory and scores it there: the body, the
array, its normalised and padded copies, the model's output, its softmax, the class codes and
the answer live together. Unbounded, one key holder's few concurrent requests (a 512 MiB
``.npy`` of bytes grows about thirty-fold while it is scored) took the whole machine. Each
request now takes its share of a :class:`MemoryBudget` (``predict_memory_mb``) step by step —
the body as it arrives, the working arrays once their shape is known — and gives it back when
its answer has been sent or dropped: a request that could never fit is refused (413), one that
does not fit while others hold the budget is told to come back (503 with ``Retry-After``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from eotrust.api.bodies import BodyTooLarge
from eotrust.errors import BackendUnavailableError, EotrustError


class MemoryBudget:
    """``total`` bytes shared by concurrent holders (thread-safe)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    def _take(self, n: int) -> bool:
        with self._lock:
            if self._used + n > self.total:
                return False
            self._used += n
            return True

    def _give_back(self, n: int) -> None:
        with self._lock:
            self._used -= n

    def hold(self, too_large: Callable[[int, int], EotrustError], busy: Callable[[int, int], EotrustError]) -> Hold:
        """A new, empty share: ``too_large(needed, total)`` is raised for a request that could
        never fit, ``busy(needed, total)`` for one that does not fit now."""
        return Hold(self, too_large, busy)


class Hold:
    """One request's share of a :class:`MemoryBudget`, taken step by step and given back once."""

    def __init__(
        self,
        budget: MemoryBudget,
        too_large: Callable[[int, int], EotrustError],
        busy: Callable[[int, int], EotrustError],
    ) -> None:
        self.budget, self._too_large, self._busy = budget, too_large, busy
        self.held = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        """Add ``n`` bytes to this share, or raise (nothing taken)."""
        if n <= 0:
            return
        with self._lock:
            if self.held + n > self.budget.total:
                raise self._too_large(self.held + n, self.budget.total)
            if not self.budget._take(n):
                raise self._busy(self.held + n, self.budget.total)
            self.held += n

    def release(self) -> None:
        """Give the whole share back (again: nothing happens)."""
        with self._lock:
            held, self.held = self.held, 0
        self.budget._give_back(held)


class ScoringTooLarge(BodyTooLarge):
    """A request that alone needs more memory to score than the server's budget: 413."""


class ScoringBusy(BackendUnavailableError):
    """The memory for scoring (``predict_memory_mb``) is held by other requests: 503, soon again."""

    retry_after_s = 1


def scoring_hold(budget: MemoryBudget) -> Hold:
    """A share of the server's scoring budget for one request (``/predict``, ``/render``)."""
    return budget.hold(_too_much, _busy)


def _too_much(needed: int, total: int) -> EotrustError:
    return ScoringTooLarge(
        f"scoring this request needs about {needed >> 20} MiB of memory; this server scores with at most "
        f"{total >> 20} MiB at a time (predict_memory_mb)",
        hint="send fewer pixels per request (or .npy rather than JSON), or score a scene with `eotrust model score`",
    )


def _busy(needed: int, total: int) -> EotrustError:
    return ScoringBusy(
        f"the server is scoring other requests: this one needs about {needed >> 20} MiB of the "
        f"{total >> 20} MiB it scores with at a time",
        hint="try again in a moment",
    )
