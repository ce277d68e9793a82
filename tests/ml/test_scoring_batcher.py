"""The batcher: concurrent inputs of one shape run as one onnxruntime call, each caller gets
exactly its own rows, other shapes wait for their own batch, and an error reaches every
caller of the failed batch without stopping the batcher."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from waiting import wait_for

from eotrust.errors import ModelError
from eotrust.ml.scoring.batch import Scorer
from eotrust.ml.scoring.batcher import Batcher


@pytest.fixture
def scorer(tiny_enet_zip: Path) -> Scorer:
    return Scorer.from_file(tiny_enet_zip, threads=1)


class Gate:
    """Wraps a scorer's run: the first call waits until opened, so that inputs pile up behind it."""

    def __init__(self, scorer: Scorer) -> None:
        self.run, self.opened, self.entered = scorer.run, threading.Event(), threading.Event()
        self.batches: list[tuple[int, ...]] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.entered.set()
        self.opened.wait(timeout=60)
        self.batches.append(x.shape)
        if x.shape[-1] == 24:
            raise ModelError("scoring failed on purpose")
        return self.run(x)


def test_waiting_inputs_of_one_shape_run_together(scorer: Scorer, monkeypatch: pytest.MonkeyPatch) -> None:
    batcher = Batcher(scorer, max_rows=16)
    gate = Gate(scorer)
    monkeypatch.setattr(scorer, "run", gate)
    rng = np.random.default_rng(0)
    a, b, c = (scorer.prepare_images(rng.integers(0, 255, (n, 3, 32, 32)))[0] for n in (1, 2, 1))
    d = scorer.prepare_images(rng.integers(0, 255, (1, 3, 16, 16)))[0]
    first = batcher.submit(a)
    assert gate.entered.wait(timeout=60)  # the worker is inside the model with a alone
    later = [batcher.submit(x) for x in (b, d, c)]
    gate.opened.set()
    results = [f.result(timeout=60) for f in [first, *later]]
    assert gate.batches == [(1, 3, 32, 32), (3, 3, 32, 32), (1, 3, 16, 16)]  # b and c together, d alone
    assert (batcher.items, batcher.calls) == (4, 3)
    for x, out in zip((a, b, d, c), results):
        np.testing.assert_allclose(out, gate.run(x), rtol=1e-5, atol=1e-5)
    wait_for(lambda: not batcher._working, timeout_s=10, what="the worker to end when idle")


def test_an_error_reaches_each_caller_of_its_batch(scorer: Scorer, monkeypatch: pytest.MonkeyPatch) -> None:
    batcher = Batcher(scorer, max_rows=16)
    gate = Gate(scorer)
    monkeypatch.setattr(scorer, "run", gate)
    rng = np.random.default_rng(1)
    ok, bad = (scorer.prepare_images(rng.integers(0, 255, (1, 3, 16, w)))[0] for w in (16, 24))
    first = batcher.submit(ok)
    assert gate.entered.wait(timeout=60)
    failing = [batcher.submit(bad), batcher.submit(bad)]
    gate.opened.set()
    assert first.result(timeout=60).shape == (1, 4, 16, 16)
    for f in failing:
        with pytest.raises(ModelError, match="on purpose"):
            f.result(timeout=60)
    assert batcher.run(ok).shape == (1, 4, 16, 16)  # still serving


def test_shared_probabilities_equal_direct_ones(scorer: Scorer, tmp_path: Path) -> None:
    x = np.random.default_rng(2).integers(0, 255, (3, 40, 56)).astype(np.uint8)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(scorer.probabilities(x, shared=True))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    direct = scorer.probabilities(x)
    assert len(results) == 6
    for r in results:
        np.testing.assert_allclose(r, direct, rtol=1e-5, atol=1e-6)
