"""Stops onnxruntime calls that run too long: one thread per scorer sets a call's
``RunOptions.terminate`` at its deadline (onnxruntime checks it between nodes and between a
``Loop``'s iterations). Arming and disarming cost a lock and a dict entry, not a thread per call
(``threading.Timer`` cost 0.65 ms a call, 4 % of scoring a 256 x 256 tile)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Protocol


class Stoppable(Protocol):
    terminate: bool


class Watchdog:
    """Deadlines for calls in flight; a daemon thread, started on first use, stops the late ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, Stoppable]] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, options: Stoppable, seconds: float) -> int:
        """Set ``options.terminate`` in ``seconds`` unless :meth:`disarm` comes first; a token."""
        with self._cond:
            token = next(self._ids)
            self._armed[token] = (time.monotonic() + seconds, options)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="eotrust-model-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._armed.pop(token, None)

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (deadline, options) in list(self._armed.items()):
                    if deadline <= now:
                        options.terminate = True
                        del self._armed[token]
                nearest = min((d for d, _ in self._armed.values()), default=None)
                self._cond.wait(None if nearest is None else max(0.0, nearest - now))
