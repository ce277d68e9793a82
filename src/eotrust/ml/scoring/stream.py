"""Stream scoring: a pipeline of windows over a sliding window of the most recent frames.

After an event-stream engine's continuous query (and ASTORE scoring on edge devices)::

    source window -> preprocess window (optional) -> score window <- model reader window

- a **source window** emits frames: a list of arrays or files (:class:`ListSource`), a
  folder watched for new GeoTIFF/PNG/npy files (:class:`FolderSource`), or any frame
  generator such as a video decoder or a sensor (:class:`GeneratorSource`);
- a **preprocess window** selects bands, resizes and normalises (:class:`Preprocess`);
- a **model reader window** loads a verified model package and hands it to the score window;
  it can load another one while the stream runs (:class:`ModelReader`);
- a **score window** scores frames with onnxruntime (:class:`ScoreWindow`).

Source and preprocessing run in their own thread; scoring runs in the caller's. Between them
sits a window of the ``window`` most recent frames: when the scorer falls behind, the oldest
frames are discarded (counted as dropped), so the scorer always works on fresh data and memory
stays bounded. Results are kept the same way (the ``window`` most recent). :class:`StreamStats`
reports frames per second and latency (from a frame's arrival to its class map).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from eotrust.errors import InvalidInputError, ModelError, NotFoundError, RasterError
from eotrust.limits import check_raster_layout, regular_file
from eotrust.ml.scoring.batch import Scorer, class_map
from eotrust.store.atomic import atomic_output, atomic_path

log = logging.getLogger(__name__)

FRAME_SUFFIXES = (".tif", ".tiff", ".png", ".npy")


@dataclass(frozen=True)
class Frame:
    """One frame: pixel values ``(bands, height, width)``, the time it arrived, where from."""

    seq: int
    name: str
    data: np.ndarray
    arrived: float = field(default_factory=time.perf_counter)
    georef: dict[str, Any] | None = None  # {"crs": ..., "transform": ...} for georeferenced frames


@dataclass(frozen=True)
class Scored:
    """A frame's class map (and probabilities when kept) and its latency in seconds."""

    frame: Frame
    classes: np.ndarray
    probabilities: np.ndarray | None
    latency: float
    model: str


@dataclass(frozen=True)
class Skipped:
    """A frame a source could not read (``reason``): counted as an error, the stream goes on."""

    name: str
    reason: str


LATENCY_WINDOW = 10_000


@dataclass
class StreamStats:
    """Counts, throughput and latency of a stream run (latency quantiles over the last
    :data:`LATENCY_WINDOW` frames, so a stream that runs for days stays bounded too)."""

    frames_in: int = 0
    scored: int = 0
    dropped: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW), repr=False)

    @property
    def fps(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0

    def latency(self, q: float) -> float:
        return float(np.quantile(self.latencies, q)) if self.latencies else float("nan")

    def summary(self) -> dict[str, float | int | None]:
        """The figures as JSON takes them (latencies None while no frame was scored)."""
        p50, p95 = (round(self.latency(q) * 1e3, 2) if self.latencies else None for q in (0.5, 0.95))
        return {
            "frames_in": self.frames_in,
            "scored": self.scored,
            "dropped": self.dropped,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
        }


# -- reading frames -----------------------------------------------------------------
def as_frame_array(data: np.ndarray, what: str = "frame") -> np.ndarray:
    """``(bands, h, w)`` from ``(h, w)`` or ``(bands, h, w)``."""
    data = np.asarray(data)
    if data.ndim == 2:
        return data[None]
    if data.ndim != 3:
        raise InvalidInputError(f"{what} has shape {data.shape}; a frame is (bands, height, width) or (height, width)")
    return data


def read_frame_file(path: Path, *, max_bytes: int | None = None) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Pixels and georeference (None when the file has none) of a GeoTIFF, PNG or .npy file.

    A frame comes from whoever may write where it is read from, so it is checked before its
    pixels are: a path that is not a regular file (a pipe would block forever), or a header
    that declares more than ``max_bytes`` of pixels (a few bytes of .npy header, or a sparse
    GeoTIFF, can declare terabytes), is :class:`InvalidInputError`, as is a file that does not
    hold what its header declares."""
    path = Path(regular_file(path, "frame"))
    if path.suffix.lower() == ".npy":
        return _read_npy(path, max_bytes), None
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path, driver="GTiff") as src:
            check_raster_layout(src, path)  # a tiny frame can declare one block of gigabytes
            _check_frame_bytes(path, src.count * src.height * src.width * np.dtype(src.dtypes[0]).itemsize, max_bytes)
            georef = {"crs": src.crs, "transform": src.transform} if src.crs else None
            return src.read(), georef
    except (RasterioIOError, OSError) as exc:
        raise InvalidInputError(f"cannot read frame {path}: {exc}") from None
    except RasterError as exc:  # a header declaring more than a read may decode: skipped
        raise InvalidInputError(exc.message, hint=exc.hint) from None
    except MemoryError:
        raise InvalidInputError(f"frame {path} does not fit in this machine's memory") from None


def _read_npy(path: Path, max_bytes: int | None) -> np.ndarray:
    from eotrust.ml.scoring.npy_header import read_npy_header

    try:
        with open(path, "rb") as f:
            declared = read_npy_header(f).nbytes
            _check_frame_bytes(path, declared, max_bytes)
            if os.fstat(f.fileno()).st_size - f.tell() < declared:
                raise ValueError(f"its header declares {declared:,} bytes of data that it does not hold")
        return as_frame_array(np.load(path, allow_pickle=False), str(path))
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidInputError(f"{path} is not a numeric .npy array: {exc}") from None
    except MemoryError:
        raise InvalidInputError(f"frame {path} does not fit in this machine's memory") from None


def _check_frame_bytes(path: Path, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise InvalidInputError(
            f"{path} would decode to {size:,} bytes; a frame may take at most {max_bytes:,}",
            hint="score smaller frames (cut them up), or raise predict_memory_mb (a frame may take a quarter of it)",
        )


# -- source windows -----------------------------------------------------------------
class SourceWindow(ABC):
    """Emits frames until exhausted or ``stop`` is set."""

    @abstractmethod
    def frames(self, stop: threading.Event) -> Iterator[Frame | Skipped]: ...


class ListSource(SourceWindow):
    """Frames from a list of arrays or of files (GeoTIFF, PNG, .npy); a file that cannot be a
    frame (see :func:`read_frame_file`, ``max_frame_bytes``) is skipped."""

    def __init__(self, items: Iterable[np.ndarray | Path | str], *, max_frame_bytes: int | None = None) -> None:
        self.items = list(items)
        self.max_frame_bytes = max_frame_bytes

    def frames(self, stop: threading.Event) -> Iterator[Frame | Skipped]:
        for seq, item in enumerate(self.items):
            if stop.is_set():
                return
            if isinstance(item, (str, Path)):
                try:
                    data, georef = read_frame_file(Path(item), max_bytes=self.max_frame_bytes)
                except (InvalidInputError, NotFoundError) as exc:
                    yield Skipped(Path(item).name, exc.message)
                    continue
                yield Frame(seq, Path(item).name, data, georef=georef)
            else:
                yield Frame(seq, f"frame-{seq:06d}", as_frame_array(item))


class GeneratorSource(SourceWindow):
    """Frames from any iterable of arrays: a video decoder, a camera, a sensor, a simulation.

    ``rate``: emit at most this many frames per second (a live source), else as fast as the
    iterable yields."""

    def __init__(self, frames: Iterable[np.ndarray], *, rate: float | None = None, name: str = "frame") -> None:
        self._frames = frames
        self.rate = rate
        self.name = name

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        period = 1.0 / self.rate if self.rate else 0.0
        due = time.perf_counter()
        for seq, data in enumerate(self._frames):
            if stop.is_set():
                return
            if period:
                due += period
                stop.wait(max(0.0, due - time.perf_counter()))
            yield Frame(seq, f"{self.name}-{seq:06d}", as_frame_array(data))


class FolderSource(SourceWindow):
    """A folder watched for new frame files (polling every ``poll`` seconds).

    A file is taken once its size and modification time have stayed the same for one poll, so
    half-written files are never read; names starting with ``.`` are ignored (write to
    ``.name.part`` and rename). ``existing``: also take the files already there at the start.
    ``idle_timeout``: stop after this many seconds without a new file (None: until stopped).
    A file that cannot be a frame (see :func:`read_frame_file`, ``max_frame_bytes``) is
    skipped: whoever writes into the folder cannot stop the stream."""

    def __init__(
        self,
        folder: Path,
        *,
        poll: float = 0.2,
        idle_timeout: float | None = None,
        existing: bool = True,
        suffixes: tuple[str, ...] = FRAME_SUFFIXES,
        max_frame_bytes: int | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.max_frame_bytes = max_frame_bytes
        if not self.folder.is_dir():
            raise InvalidInputError(f"{self.folder} is not a folder to watch")
        self.poll = poll
        self.idle_timeout = idle_timeout
        self.existing = existing
        self.suffixes = tuple(s.lower() for s in suffixes)

    def _listing(self) -> dict[str, tuple[int, int]]:
        out = {}
        for p in self.folder.iterdir():
            if p.name.startswith(".") or p.suffix.lower() not in self.suffixes:
                continue
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            if p.is_file():
                out[p.name] = (st.st_size, st.st_mtime_ns)
        return out

    def frames(self, stop: threading.Event) -> Iterator[Frame | Skipped]:
        taken: set[str] = set() if self.existing else set(self._listing())
        last_seen: dict[str, tuple[int, int]] = {}
        idle_since = time.monotonic()
        seq = 0
        while not stop.is_set():
            now = self._listing()
            ready = sorted(
                (n for n, sig in now.items() if n not in taken and last_seen.get(n) == sig),
                key=lambda n: (now[n][1], n),
            )
            last_seen = now
            for name in ready:
                taken.add(name)
                try:
                    data, georef = read_frame_file(self.folder / name, max_bytes=self.max_frame_bytes)
                except (InvalidInputError, NotFoundError) as exc:
                    yield Skipped(name, exc.message)
                    continue
                yield Frame(seq, name, data, georef=georef)
                seq += 1
                idle_since = time.monotonic()
            if self.idle_timeout is not None and time.monotonic() - idle_since > self.idle_timeout:
                return
            stop.wait(self.poll)


# -- preprocess window ----------------------------------------------------------------
@dataclass(frozen=True)
class Preprocess:
    """Band selection (0-based indexes, in order), resizing to ``size`` (height, width;
    ``nearest`` or ``bilinear``) and an extra ``(value - offset) * scale`` on raw pixel values
    (the model's own normalisation is applied by the scorer)."""

    bands: tuple[int, ...] | None = None
    size: tuple[int, int] | None = None
    resample: str = "bilinear"
    offset: float = 0.0
    scale: float = 1.0
    max_bytes: int | None = None  # the most a resized frame may take (float32)

    def __post_init__(self) -> None:
        if self.bands is not None and (not self.bands or min(self.bands) < 0):
            raise InvalidInputError(f"bands to keep must be band indexes from 0, not {list(self.bands)}")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise InvalidInputError(f"a frame's size is a height and a width of at least 1, not {self.size}")

    def __call__(self, frame: Frame) -> Frame:
        data = frame.data
        if self.bands is not None:
            if max(self.bands, default=-1) >= data.shape[0] or min(self.bands, default=0) < 0:
                raise InvalidInputError(
                    f"frame {frame.name} has {data.shape[0]} bands; cannot select {list(self.bands)}"
                )
            data = data[list(self.bands)]
        if self.size is not None and tuple(data.shape[1:]) != tuple(self.size):
            need = data.shape[0] * self.size[0] * self.size[1] * 4
            if self.max_bytes is not None and need > self.max_bytes:
                raise InvalidInputError(
                    f"resized to {self.size[0]}x{self.size[1]}, frame {frame.name} would take {need:,} bytes; "
                    f"a frame may take at most {self.max_bytes:,}"
                )
            data = resize(data, self.size, self.resample)
        if self.offset or self.scale != 1.0:
            data = (data.astype(np.float32) - np.float32(self.offset)) * np.float32(self.scale)
        return replace(frame, data=data, georef=frame.georef if self.size is None else None)


def resize(data: np.ndarray, size: tuple[int, int], resample: str = "bilinear") -> np.ndarray:
    """Resize ``(bands, h, w)`` to ``size`` with numpy only (pixel centres aligned)."""
    bands, h, w = data.shape
    oh, ow = size
    ys = (np.arange(oh) + 0.5) * h / oh - 0.5
    xs = (np.arange(ow) + 0.5) * w / ow - 0.5
    if resample == "nearest":
        yi = np.clip(np.round(ys).astype(int), 0, h - 1)
        xi = np.clip(np.round(xs).astype(int), 0, w - 1)
        return data[:, yi][:, :, xi]
    if resample != "bilinear":
        raise InvalidInputError(f"unknown resampling {resample!r}; use nearest or bilinear")
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy = np.clip(ys - y0, 0, 1).astype(np.float32)[None, :, None]
    fx = np.clip(xs - x0, 0, 1).astype(np.float32)[None, None, :]
    d = data.astype(np.float32)
    top: np.ndarray = d[:, y0][:, :, x0] * (1 - fx) + d[:, y0][:, :, x1] * fx
    bottom: np.ndarray = d[:, y1][:, :, x0] * (1 - fx) + d[:, y1][:, :, x1] * fx
    resampled: np.ndarray = top * (1 - fy) + bottom * fy
    return resampled


# -- model reader and score windows ----------------------------------------------------
class ModelReader:
    """Holds the scorer the score window uses; :meth:`load` swaps in another package mid-stream."""

    def __init__(self, scorer: Scorer) -> None:
        self._scorer = scorer
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path, *, cid: str | None = None, threads: int | None = None) -> ModelReader:
        return cls(Scorer.from_file(path, cid=cid, threads=threads))

    @property
    def scorer(self) -> Scorer:
        with self._lock:
            return self._scorer

    def load(self, scorer: Scorer) -> None:
        with self._lock:
            self._scorer = scorer


class ScoreWindow:
    """Scores frames with the model reader's current scorer; keeps the ``window`` latest results."""

    def __init__(self, reader: ModelReader, *, window: int = 8, keep_probabilities: bool = False) -> None:
        self.reader = reader
        self.recent: deque[Scored] = deque(maxlen=window)
        self.keep_probabilities = keep_probabilities

    def score(self, frames: list[Frame]) -> list[Scored]:
        scorer = self.reader.scorer
        groups: dict[tuple[int, ...], list[Frame]] = {}
        for f in frames:
            groups.setdefault(f.data.shape, []).append(f)
        out: list[Scored] = []
        for group in groups.values():
            if scorer.is_image:
                probs = scorer.probabilities(np.stack([f.data for f in group]))
            else:
                probs = np.stack([scorer.score_block(f.data) for f in group])
            done = time.perf_counter()
            for f, p in zip(group, probs):
                out.append(
                    Scored(
                        f,
                        class_map(p, axis=0),
                        p if self.keep_probabilities else None,
                        done - f.arrived,
                        scorer.manifest.name,
                    )
                )
        out.sort(key=lambda s: s.frame.seq)
        self.recent.extend(out)
        return out


# -- the pipeline ----------------------------------------------------------------------
class StreamPipeline:
    """source -> preprocess -> score (with the model reader's model), over a sliding window.

    ``window``: how many unscored frames may wait (older ones are discarded) and how many
    results are kept. ``batch``: frames scored per call (of the same shape). ``sink``: called
    with every :class:`Scored` (e.g. :class:`FolderSink`)."""

    def __init__(
        self,
        source: SourceWindow,
        reader: ModelReader,
        *,
        preprocess: Preprocess | None = None,
        window: int = 8,
        batch: int = 1,
        sink: Callable[[Scored], None] | None = None,
        keep_probabilities: bool = False,
    ) -> None:
        if window < 1 or batch < 1:
            raise InvalidInputError("window and batch must be at least 1")
        self.source = source
        self.preprocess = preprocess
        self.score_window = ScoreWindow(reader, window=window, keep_probabilities=keep_probabilities)
        self.window = window
        self.batch = min(batch, window)
        self.sink = sink
        self.stats = StreamStats()
        self._pending: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._source_done = False
        self._source_error: BaseException | None = None

    @property
    def recent(self) -> list[Scored]:
        """The latest results (at most ``window``), oldest first."""
        return list(self.score_window.recent)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def _feed(self) -> None:
        try:
            for frame in self.source.frames(self._stop):
                if isinstance(frame, Skipped):
                    log.warning("skipping %s: %s", frame.name, frame.reason)
                    with self._cond:
                        self.stats.errors += 1
                    continue
                if self.preprocess is not None:
                    try:
                        frame = self.preprocess(frame)
                    except InvalidInputError as exc:
                        log.warning("frame %s: %s", frame.name, exc)
                        with self._cond:
                            self.stats.errors += 1
                        continue
                frame = replace(frame, arrived=time.perf_counter())
                with self._cond:
                    self.stats.frames_in += 1
                    if len(self._pending) >= self.window:
                        self._pending.popleft()  # the oldest is discarded: the scorer is behind
                        self.stats.dropped += 1
                    self._pending.append(frame)
                    self._cond.notify_all()
        except BaseException as exc:  # reported by run()
            self._source_error = exc
        finally:
            with self._cond:
                self._source_done = True
                self._cond.notify_all()

    def run(self, *, max_frames: int | None = None, duration: float | None = None) -> StreamStats:
        """Run until the source ends (and the window is drained), ``max_frames`` are scored,
        ``duration`` seconds pass, or :meth:`stop` is called. Returns the stats."""
        started = time.perf_counter()
        feeder = threading.Thread(target=self._feed, name="eotrust-stream-source", daemon=True)
        feeder.start()
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._source_done and not self._stop.is_set():
                        left = None if duration is None else duration - (time.perf_counter() - started)
                        if left is not None and left <= 0:
                            break
                        self._cond.wait(timeout=0.1 if left is None else min(left, 0.1))
                    if self._stop.is_set() or (not self._pending and self._source_done):
                        break
                    if duration is not None and time.perf_counter() - started >= duration:
                        break
                    take = self.batch if max_frames is None else min(self.batch, max_frames - self.stats.scored)
                    frames = [self._pending.popleft() for _ in range(min(take, len(self._pending)))]
                if not frames:
                    continue
                try:
                    results = self.score_window.score(frames)
                except (InvalidInputError, ModelError) as exc:
                    log.warning("frames %s: %s", [f.name for f in frames], exc)
                    with self._cond:
                        self.stats.errors += len(frames)
                    continue
                for r in results:
                    self.stats.scored += 1
                    self.stats.latencies.append(r.latency)
                    if self.sink is not None:
                        self.sink(r)
                if max_frames is not None and self.stats.scored >= max_frames:
                    break
        finally:
            self.stop()
            feeder.join(timeout=5)
            self.stats.seconds = time.perf_counter() - started
        if self._source_error is not None:
            err = self._source_error
            if isinstance(err, (InvalidInputError, ModelError)):
                raise err
            raise ModelError(f"the stream's source failed: {err}") from err
        return self.stats


class FolderSink:
    """Writes each class map to ``folder``: ``NAME.classes.tif`` (georeferenced when the frame
    was), or ``NAME.classes.npy`` with ``as_npy``."""

    def __init__(self, folder: Path, *, as_npy: bool = False) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.as_npy = as_npy
        self.written: list[Path] = []

    def __call__(self, result: Scored) -> None:
        stem = Path(result.frame.name).stem
        if self.as_npy:
            path = self.folder / f"{stem}.classes.npy"
            with atomic_output(path) as fh:
                np.save(fh, result.classes)
        else:
            import rasterio

            path = self.folder / f"{stem}.classes.tif"
            h, w = result.classes.shape
            profile: dict[str, Any] = {
                "driver": "GTiff",
                "width": w,
                "height": h,
                "count": 1,
                "dtype": result.classes.dtype.name,
                "compress": "deflate",
            }
            if result.frame.georef:
                profile.update(result.frame.georef)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
                    dst.write(result.classes, 1)
        self.written.append(path)
