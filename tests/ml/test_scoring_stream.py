"""Stream scoring: source -> preprocess -> score windows over a sliding window of recent frames."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from waiting import wait_for

from eotrust.errors import InvalidInputError
from eotrust.ml.scoring.batch import Scorer
from eotrust.ml.scoring.stream import (
    FolderSink,
    FolderSource,
    GeneratorSource,
    ListSource,
    ModelReader,
    Preprocess,
    Scored,
    StreamPipeline,
    resize,
)


@pytest.fixture(scope="module")
def scorer(tiny_enet_zip: Path) -> Scorer:
    return Scorer.from_file(tiny_enet_zip)


def frames(n: int, shape: tuple[int, int, int] = (3, 32, 32)) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, shape).astype(np.uint8) for _ in range(n)]


def test_list_source_scores_every_frame_in_order(scorer: Scorer) -> None:
    items = frames(6)
    seen: list[Scored] = []
    pipeline = StreamPipeline(ListSource(items), ModelReader(scorer), window=16, batch=2, sink=seen.append)
    stats = pipeline.run()
    assert stats.scored == 6 and stats.dropped == 0 and stats.fps > 0
    assert [r.frame.seq for r in seen] == list(range(6))
    for r, x in zip(seen, items):
        np.testing.assert_array_equal(r.classes, scorer.classify(x))
    assert 0 < stats.latency(0.5) <= stats.latency(0.95)
    assert stats.summary()["latency_p50_ms"] == round(stats.latency(0.5) * 1e3, 2)


def test_slow_scorer_drops_old_frames_and_keeps_a_window(scorer: Scorer) -> None:
    class Slow(Scorer):
        def probabilities(self, x: np.ndarray, *, shared: bool = False) -> np.ndarray:
            time.sleep(0.05)  # workload: a slow model, not synchronisation
            return super().probabilities(x, shared=shared)

    slow = Slow(scorer.package)
    pipeline = StreamPipeline(GeneratorSource(frames(60)), ModelReader(slow), window=4)
    stats = pipeline.run()
    assert stats.frames_in == 60
    assert stats.dropped > 0 and stats.scored + stats.dropped == 60
    assert len(pipeline.recent) == 4
    assert pipeline.recent[-1].frame.seq == 59  # the newest frame is always scored


def test_generator_source_rate_and_max_frames(scorer: Scorer) -> None:
    def endless() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(1)
        while True:
            yield rng.integers(0, 255, (3, 16, 16)).astype(np.uint8)

    stats = StreamPipeline(GeneratorSource(endless(), rate=200), ModelReader(scorer)).run(max_frames=5)
    assert stats.scored == 5
    stats = StreamPipeline(GeneratorSource(endless(), rate=50), ModelReader(scorer)).run(duration=0.3)
    assert 0 < stats.scored <= 20


def test_preprocess_window(scorer: Scorer) -> None:
    five = np.random.default_rng(2).integers(0, 255, (5, 20, 30)).astype(np.uint8)
    pre = Preprocess(bands=(4, 2, 0), size=(32, 48))
    results: list[Scored] = []
    StreamPipeline(ListSource([five]), ModelReader(scorer), preprocess=pre, sink=results.append).run()
    assert results[0].classes.shape == (32, 48)
    np.testing.assert_array_equal(results[0].classes, scorer.classify(resize(five[[4, 2, 0]], (32, 48))))
    assert resize(np.arange(4, dtype=np.float32).reshape(1, 2, 2), (4, 4), "nearest").shape == (1, 4, 4)
    stats = StreamPipeline(ListSource([five]), ModelReader(scorer), preprocess=Preprocess(bands=(7,))).run()
    assert stats.errors == 1 and stats.scored == 0


def test_wrong_frames_are_counted_not_fatal(scorer: Scorer) -> None:
    items = [frames(1)[0], np.zeros((2, 32, 32), np.uint8), frames(1)[0]]
    stats = StreamPipeline(ListSource(items), ModelReader(scorer)).run()
    assert stats.scored == 2 and stats.errors == 1


def test_watched_folder_and_model_swap(scorer: Scorer, tmp_path: Path) -> None:
    watch, out = tmp_path / "in", tmp_path / "out"
    watch.mkdir()
    np.save(watch / "a.npy", frames(1)[0])
    profile = {
        "driver": "GTiff",
        "width": 32,
        "height": 32,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": rasterio.Affine(10, 0, 0, 0, -10, 0),
    }
    reader = ModelReader(scorer)
    sink = FolderSink(out)
    pipeline = StreamPipeline(FolderSource(watch, poll=0.05, idle_timeout=1.5), reader, sink=sink)

    def producer() -> None:  # each file arrives once the stream has written the one before
        wait_for(lambda: len(sink.written) >= 1, timeout_s=30, what="a.npy to be scored")
        with rasterio.open(watch / ".b.tif.part", "w", **profile) as dst:  # written, then renamed in
            dst.write(frames(1)[0])
        (watch / ".b.tif.part").rename(watch / "b.tif")
        (watch / "notes.txt").write_text("ignored")
        wait_for(lambda: len(sink.written) >= 2, timeout_s=30, what="b.tif to be scored")
        reader.load(Scorer(scorer.package))  # a new model while the stream runs
        np.save(watch / "c.npy", frames(1)[0])

    t = threading.Thread(target=producer)
    t.start()
    stats = pipeline.run()
    t.join()
    assert stats.scored == 3
    assert sorted(p.name for p in sink.written) == ["a.classes.tif", "b.classes.tif", "c.classes.tif"]
    with rasterio.open(out / "b.classes.tif") as ds:
        assert ds.crs.to_string() == "EPSG:32633"
    with pytest.raises(InvalidInputError):
        FolderSource(tmp_path / "missing")
