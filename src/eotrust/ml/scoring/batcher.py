"""One model, many callers: concurrent requests are run together, one onnxruntime call at a time.

Callers (a server's request threads, say) prepare their own inputs and :meth:`Batcher.run`
them. One worker thread runs the model: it takes the oldest waiting input and every other
waiting input of the same shape (up to ``max_items`` inputs and ``max_rows`` rows), runs them
as one batch and hands each caller its own rows back (views of the batch's output, no copy).
Nothing waits on purpose for a batch to fill: inputs that arrive while the model runs form
the next batch, so a lone caller sees no added latency and a crowd gets larger batches.
Running one call at a time also keeps onnxruntime's thread pool from being oversubscribed by
several calls at once. The worker starts when work arrives and ends when none is left.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future
from typing import Protocol

import numpy as np


class Runner(Protocol):
    """What the batcher drives (a :class:`~eotrust.ml.scoring.batch.Scorer`): one model call."""

    def run(self, prepared: np.ndarray) -> np.ndarray: ...


class Batcher:
    """Batches :meth:`Scorer.run` calls on prepared inputs (see the module's text)."""

    def __init__(self, scorer: Runner, *, max_rows: int, max_items: int = 16) -> None:
        self.scorer = scorer
        self.max_items = max(1, max_items)
        self.max_rows = max(1, max_rows)
        self._lock = threading.Lock()
        self._waiting: deque[tuple[np.ndarray, Future[np.ndarray]]] = deque()
        self._working = False
        #: inputs run, and onnxruntime calls made (their ratio is the mean batch size)
        self.items = 0
        self.calls = 0

    def submit(self, prepared: np.ndarray) -> Future[np.ndarray]:
        """Queue a prepared input (what :meth:`Scorer.run` takes); its raw output comes in the future."""
        future: Future[np.ndarray] = Future()
        with self._lock:
            self._waiting.append((prepared, future))
            start = not self._working
            self._working = True
        if start:
            threading.Thread(target=self._work, name="eotrust-batcher", daemon=True).start()
        return future

    def run(self, prepared: np.ndarray) -> np.ndarray:
        """:meth:`submit` and wait: the raw output for ``prepared``."""
        return self.submit(prepared).result()

    def _take(self) -> list[tuple[np.ndarray, Future[np.ndarray]]]:
        """The oldest waiting input and the others of its shape that fit (under the lock)."""
        first = self._waiting.popleft()
        taken, rows = [first], len(first[0])
        kept: deque[tuple[np.ndarray, Future[np.ndarray]]] = deque()
        key = first[0].shape[1:]
        while self._waiting and len(taken) < self.max_items:
            item = self._waiting.popleft()
            if item[0].shape[1:] == key and rows + len(item[0]) <= self.max_rows:
                taken.append(item)
                rows += len(item[0])
            else:
                kept.append(item)
        kept.extend(self._waiting)
        self._waiting = kept
        return taken

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._working = False
                    return
                taken = self._take()
            taken = [(x, f) for x, f in taken if f.set_running_or_notify_cancel()]
            if not taken:
                continue
            try:
                batch = taken[0][0] if len(taken) == 1 else np.concatenate([x for x, _ in taken])
                out = self.scorer.run(batch)
            except BaseException as exc:  # each caller gets the error (ModelError from run)
                for _, f in taken:
                    f.set_exception(exc)
                continue
            self.items += len(taken)
            self.calls += 1
            start = 0
            for x, f in taken:
                f.set_result(out[start : start + len(x)])
                start += len(x)
