"""Scene scoring: a GeoTIFF of any size, tile by tile, with overlap and blending, in bounded memory.

Tiles of ``tile`` x ``tile`` pixels step by ``tile - overlap``; the last row and column of
tiles are moved back to end at the raster's edge. Each tile's class probabilities are
weighted by a ramp that falls towards the tile's edges (over ``overlap`` pixels) and summed,
so neighbouring tiles blend smoothly instead of showing seams. Only one strip of tiles is
blended at a time: memory grows with ``classes x tile x width``, never with the raster's
height. Decoding, inference and blending/writing overlap in three threads: the next tiles are
read while the current ones are scored and the previous ones blended and written.

The result is a GeoTIFF class map in the one class-map encoding (:mod:`eotrust.eo.classmap`:
uint8 class codes, nodata 0, the classes' colours as its colour table) in the input's CRS and transform, and optionally a float32 GeoTIFF of probabilities
(one band per class). A pixel that is nodata in every input band is nodata in the output.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eotrust.eo import classmap
from eotrust.eo.raster import block_cache_bytes, check_raster_file
from eotrust.errors import InvalidInputError, RasterError
from eotrust.limits import check_raster_layout, half_of_memory
from eotrust.ml.package import short_list
from eotrust.ml.scoring.batch import Scorer, class_map, softmax
from eotrust.store.atomic import place, temp_name

#: What the reader hands the model: an image model's prepared batch and its (H, W), or raw tiles.
_Prepared = tuple[np.ndarray, tuple[int, int]] | np.ndarray

Progress = Callable[[int, int], None]

DEFAULT_IMAGE_TILE = 512
DEFAULT_SERIES_TILE = 256
#: Nice increment of the reader and writer threads (see :func:`_yield_to_model`).
HELPER_NICE = 5
#: Rows of a tile blended at a time (softmax, weight, add: cache-sized pieces).
BLEND_ROWS = 32
#: Jobs in flight between reader and model: two read ahead, one being scored.
READ_AHEAD = 3


@dataclass(frozen=True)
class SceneResult:
    """What :func:`score_scene` wrote and how fast."""

    classes: Path
    probabilities: Path | None
    width: int
    height: int
    tiles: int
    seconds: float
    warnings: tuple[str, ...] = ()

    @property
    def megapixels_per_second(self) -> float:
        return self.width * self.height / 1e6 / self.seconds if self.seconds > 0 else float("inf")


def select_bands(descriptions: tuple[str | None, ...], count: int, wanted: list[str], what: str) -> list[int]:
    """1-based band indexes of ``wanted`` in a raster: by band description when every wanted
    name is there, else by position when the count matches."""
    names = [d or "" for d in descriptions]
    if all(names.count(b) == 1 for b in wanted):
        return [names.index(b) + 1 for b in wanted]
    if count == len(wanted):
        return list(range(1, count + 1))
    raise InvalidInputError(
        f"{what} has {count} bands; the model takes {len(wanted)} ({short_list(wanted)})",
        hint="give a raster with the model's bands, named by band description or in order",
    )


def tile_starts(size: int, tile: int, stride: int) -> list[int]:
    """Start offsets of tiles covering ``size`` pixels; the last one ends exactly at ``size``."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def single_spans(starts: list[int], tile: int) -> dict[int, tuple[int, int]]:
    """Per tile start (sorted, tiles of ``tile`` pixels): the span ``[lo, hi)`` of the tile, in
    its own pixels, that no other tile covers (empty: ``lo >= hi``). With tiles of one length
    in order, only the neighbours can reach into a tile."""
    spans = {}
    for j, s in enumerate(starts):
        lo = max(0, starts[j - 1] + tile - s) if j > 0 else 0
        hi = min(tile, starts[j + 1] - s) if j + 1 < len(starts) else tile
        spans[s] = (lo, hi)
    return spans


def blend_ramp(n: int, overlap: int) -> np.ndarray:
    """1-D weights: 1 in the middle, falling linearly over ``overlap`` pixels at each end (never 0)."""
    if overlap <= 0:
        return np.ones(n, np.float32)
    i = np.arange(n)
    return (np.minimum(np.minimum(i + 1, n - i), overlap + 1) / (overlap + 1)).astype(np.float32)


def score_scene(
    scorer: Scorer,
    source: Path,
    dest: Path,
    *,
    probabilities: Path | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int = 4,
    progress: Progress | None = None,
    cloud_mask: Path | None = None,
) -> SceneResult:
    """Score the GeoTIFF ``source`` into the class map ``dest`` (and ``probabilities``).

    A model whose package declares :class:`~eotrust.ml.package.Preprocessing` gets its input
    prepared as in training: a raw series is cloud-masked with ``cloud_mask`` and its gaps
    filled by interpolation in time (tile by tile, exactly as the workflow's prepare step); a
    raw series without its mask is refused, as are dates unlike the model's; a scene whose
    prepared values lie far from the training data's is flagged in ``warnings`` (and the
    class map's tags). Nothing is left at ``dest`` (or ``probabilities``) if scoring fails."""
    import rasterio
    from rasterio.errors import RasterioIOError

    source, dest = Path(source), Path(dest)
    started = time.perf_counter()
    check_raster_file(source)
    try:
        src_ctx = rasterio.open(source, driver="GTiff")
    except RasterioIOError as exc:
        raise RasterError(f"cannot read raster {source}: {exc}", hint="give a GeoTIFF") from None
    try:
        with src_ctx as src, ExitStack() as cleanup:
            if src.crs is None:
                raise RasterError(
                    f"raster {source} has no CRS", hint="assign one (e.g. gdal_edit.py -a_srs EPSG:32633)"
                )
            check_raster_layout(src, source)  # a 396-byte header can declare one block of 2 GB
            prep = _Prepare.for_scene(scorer, src, source, cloud_mask, cleanup)
            indexes = select_bands(src.descriptions, src.count, scorer.spec.bands, f"raster {source}")
            height, width = src.height, src.width
            m = scorer.spatial_multiple
            # an image model sees a tile as context (its training tile size); a pixel model sees none
            default_tile = (scorer.spec.tile_size or DEFAULT_IMAGE_TILE) if scorer.is_image else DEFAULT_SERIES_TILE
            size = int(tile or default_tile)
            size = max(m, -(-size // m) * m)
            ov = (size // 8 if scorer.is_image else 0) if overlap is None else int(overlap)
            if not 0 <= ov <= size // 2:
                raise InvalidInputError(f"overlap {ov} must be between 0 and half the tile ({size})")
            th, tw = min(size, height), min(size, width)
            cleanup.enter_context(rasterio.Env(GDAL_CACHEMAX=block_cache_bytes(src, th, most=1 << 30)))
            _check_memory(source, scorer.num_classes, th, width, height)  # before anything is allocated or made
            ys = tile_starts(height, size, size - ov)
            xs = tile_starts(width, size, size - ov)
            total = len(ys) * len(xs)
            weight = np.outer(blend_ramp(th, ov), blend_ramp(tw, ov))
            k = scorer.num_classes
            nodata_in = src.nodata
            codes = classmap.codes_for([c.code for c in sorted(scorer.manifest.classes, key=lambda c: c.index)], k)

            outputs = [(dest, _class_profile(src))]
            if probabilities is not None:
                outputs.append((Path(probabilities), _prob_profile(src, k)))
            writers = []
            for path, profile in outputs:
                path.parent.mkdir(parents=True, exist_ok=True)
                part = temp_name(path)
                cleanup.callback(part.unlink, missing_ok=True)
                writers.append((part, path, cleanup.enter_context(rasterio.open(part, "w", **profile))))
            cls_dst = writers[0][2]
            ordered = sorted(scorer.manifest.classes, key=lambda c: c.index)
            classmap.decorate(cls_dst, codes, [c.name for c in ordered], [c.colour for c in ordered])
            tags = {"model": scorer.manifest.name, "class_names": json.dumps(scorer.manifest.class_names)}
            if scorer.cid:
                tags["model_cid"] = scorer.cid
            cls_dst.update_tags(**tags)
            prob_dst = writers[1][2] if len(writers) > 1 else None
            if prob_dst is not None:
                for i, name in enumerate(scorer.manifest.class_names, start=1):
                    prob_dst.set_band_description(i, name)

            acc = np.zeros((k, th, width), np.float32)
            wsum = np.zeros((th, width), np.float32)
            valid = np.ones((th, width), bool)
            top = 0  # raster row of the buffers' first row

            def flush(rows: int) -> None:
                """Write the buffers' first ``rows`` rows (no later tile touches them) and shift."""
                nonlocal top
                if rows <= 0:
                    return
                window = rasterio.windows.Window(0, top, width, rows)
                if prob_dst is None:  # a pixel's sums over one weight total: their largest is its class
                    cls_dst.write(
                        classmap.encode(class_map(acc[:, :rows], axis=0), codes, valid[:rows]), 1, window=window
                    )
                else:
                    probs = np.divide(acc[:, :rows], wsum[:rows], out=acc[:, :rows])  # in place
                    cls_dst.write(classmap.encode(class_map(probs, axis=0), codes, valid[:rows]), 1, window=window)
                    probs[:, ~valid[:rows]] = np.nan
                    prob_dst.write(probs, window=window)
                acc[:, : -rows or None] = acc[:, rows:]
                acc[:, th - rows :] = 0
                wsum[: th - rows] = wsum[rows:]
                wsum[th - rows :] = 0
                valid[: th - rows] = valid[rows:]
                top += rows

            # Buffers reused round-robin, one set per job in flight (read ahead, being scored,
            # just scored): fresh 10-MB arrays per tile cost page faults on every tile.
            buffers: dict[tuple[int, str, int], np.ndarray] = {}

            def buffer(slot: int, what: str, shape: tuple[int, ...], dtype: object) -> np.ndarray:
                key = (slot % READ_AHEAD, what, shape[0])
                buf = buffers.get(key)
                if buf is None or buf.shape != shape or buf.dtype != dtype:
                    buf = buffers[key] = np.empty(shape, dtype)  # type: ignore[call-overload]
                return buf

            def read(n: int, y: int, batch: list[int]) -> tuple[_Prepared, list[np.ndarray]]:
                """Decode (and prepare) the tiles of job ``n``: the reader thread's stage."""
                stack = buffer(n, "raw", (len(batch), len(indexes), th, tw), np.dtype(src.dtypes[0]))
                for j, x in enumerate(batch):
                    src.read(indexes, window=rasterio.windows.Window(x, y, tw, th), out=stack[j])
                if prep is not None:
                    windows = [rasterio.windows.Window(x, y, tw, th) for x in batch]
                    stack = np.stack([prep(t, w) for t, w in zip(stack, windows)])
                masks = [_valid_mask(t, nodata_in) for t in stack]
                if not scorer.is_image:
                    return stack, masks
                return scorer.prepare_images(stack, buffer(n, "prepared", stack.shape, np.float32)), masks

            def infer(ready: _Prepared) -> _Prepared:
                """The model: the only stage on the calling thread, kept free of everything else."""
                if isinstance(ready, tuple):  # an image model's prepared batch and its size
                    images, size = ready
                    return scorer.run(images), size
                return _probabilities(scorer, ready)

            # Where only one tile covers a pixel, the class is the largest of its logits: softmax
            # is needed only where tiles blend, unless the probabilities are written too.
            logits_alone = scorer.is_image and scorer.manifest.output.kind == "logits" and prob_dst is None
            row_spans, col_spans = single_spans(ys, th), single_spans(xs, tw)

            def blend(y: int, batch: list[int], masks: list[np.ndarray], raw: _Prepared) -> None:
                """Softmax, weight and add one job's tiles; write the rows no later tile touches:
                the writer thread's stage (the only one that touches the strip buffers)."""
                flush(y - top)
                if isinstance(raw, tuple):  # an image model's raw output and the tiles' size
                    scores, (h, w) = raw
                    out = scores[..., :h, :w]
                else:
                    out = raw
                first, end = row_spans[y]
                for i, (x, mask) in enumerate(zip(batch, masks)):
                    valid[:, x : x + tw] = mask
                    left, right = col_spans[x]
                    # a band of rows at a time, so that softmax, weighting and adding find
                    # their operands in cache (the same operations, so the same bits)
                    for r in range(0, th, BLEND_ROWS):
                        rows = slice(r, r + BLEND_ROWS)
                        if not scorer.is_image:
                            p = out[i, :, rows]
                        elif logits_alone and first <= r and min(r + BLEND_ROWS, th) <= end and left < right:
                            p = out[i, :, rows]  # logits where this tile is alone, probabilities where it blends
                            if left > 0:
                                softmax(p[:, :, :left], 0)
                            if right < tw:
                                softmax(p[:, :, right:], 0)
                        else:
                            p = scorer.finish(out[i : i + 1, :, rows])[0]
                        p *= weight[rows]
                        acc[:, rows, x : x + tw] += p
                    wsum[:, x : x + tw] += weight

            # Three stages overlap: the reader decodes the next tiles, the calling thread runs
            # the model, the writer blends and writes the previous ones. At most two jobs wait
            # at each hand-over, so memory stays bounded; the first error stops the scene.
            jobs = [(y, batch) for y in ys for batch in _batches(xs, batch_size)]
            done = 0
            with (
                ThreadPoolExecutor(1, thread_name_prefix="eotrust-read", initializer=_yield_to_model) as reader,
                ThreadPoolExecutor(1, thread_name_prefix="eotrust-blend", initializer=_yield_to_model) as writer,
            ):
                reads = deque([reader.submit(read, n, *job) for n, job in enumerate(jobs[:2])])
                blends: deque[tuple[Future[None], int]] = deque()
                for n, (y, batch) in enumerate(jobs):
                    ready, masks = reads.popleft().result()
                    if n + 2 < len(jobs):
                        reads.append(reader.submit(read, n + 2, *jobs[n + 2]))
                    raw = infer(ready)
                    while len(blends) >= 2:
                        done += _finished(blends.popleft(), progress, done, total)
                    blends.append((writer.submit(blend, y, batch, masks, raw), len(batch)))
                while blends:
                    done += _finished(blends.popleft(), progress, done, total)
                flush(height - top)
            warnings = prep.warnings() if prep is not None else ()
            if warnings:
                cls_dst.update_tags(warnings=" | ".join(warnings))
            for part, path, dst in writers:
                dst.close()
                place(part, path)
    except RasterioIOError as exc:
        raise RasterError(
            f"cannot read raster {source}: {str(exc).splitlines()[0] if str(exc) else 'read failed'} (corrupt or truncated tiles)",
            hint="check the file with gdalinfo -checksum; get an intact copy",
        ) from None
    except MemoryError:
        raise RasterError(
            f"raster {source} is too large to score with the memory this machine has",
            hint="cut it into pieces (`eotrust eo tile`) or score a smaller area",
        ) from None
    return SceneResult(
        dest,
        Path(probabilities) if probabilities else None,
        width,
        height,
        total,
        time.perf_counter() - started,
        warnings,
    )


class _Prepare:
    """A pixel-series model's preprocessing (from its package), applied tile by tile, and the
    running statistics of what the model was given."""

    def __init__(
        self, prep: object, mask_ds: object | None, mask_indexes: list[int] | None, days: np.ndarray, channels: int
    ) -> None:
        from eotrust.ml.package import Preprocessing

        assert isinstance(prep, Preprocessing)
        self.prep, self.mask_ds, self.mask_indexes, self.days, self.channels = (
            prep,
            mask_ds,
            mask_indexes,
            days,
            channels,
        )
        self.total = np.zeros(channels)
        self.n = np.zeros(channels)

    @classmethod
    def for_scene(
        cls, scorer: Scorer, src: object, source: Path, cloud_mask: Path | None, cleanup: ExitStack
    ) -> _Prepare | None:
        import rasterio

        from eotrust.eo.raster import dates_of, days_of

        prep = scorer.manifest.preprocessing
        if prep is None or scorer.is_image:
            if cloud_mask is not None:
                raise InvalidInputError(
                    f"model {scorer.manifest.name} declares no cloud masking; it takes no cloud mask",
                    hint="leave out the cloud mask",
                )
            return None
        tags = src.tags()  # type: ignore[attr-defined]
        cleaned = "cleaning" in tags
        t = scorer.spec.timesteps or 1
        mask_ds, mask_indexes = None, None
        if prep.cloud_mask and not cleaned:
            if cloud_mask is None:
                raise InvalidInputError(
                    f"model {scorer.manifest.name} was trained on cloud-masked, gap-filled series; {source.name} is a raw "
                    f"series (no 'cleaning' tag), which it would misread",
                    hint="give the raster's cloud mask (--cloud-mask), or a cube cleaned by `eotrust eo stack --mask`",
                )
            raw_dates = dates_of(src)
            if raw_dates is not None and prep.dates and list(raw_dates) != list(prep.dates):
                raise InvalidInputError(
                    f"{source.name} has {len(raw_dates)} dates ({raw_dates[0]} … {raw_dates[-1]}); model "
                    f"{scorer.manifest.name} takes {len(prep.dates)} ({prep.dates[0]} … {prep.dates[-1]})",
                    hint="give a series on the model's dates",
                )
            mask_ds = cleanup.enter_context(rasterio.open(cloud_mask, driver="GTiff"))
            check_raster_layout(mask_ds, cloud_mask)
            if (mask_ds.width, mask_ds.height, mask_ds.transform) != (src.width, src.height, src.transform):  # type: ignore[attr-defined]
                raise InvalidInputError(f"cloud mask {Path(cloud_mask).name} is not on {source.name}'s grid")
            if mask_ds.count != t:
                raise InvalidInputError(
                    f"cloud mask {Path(cloud_mask).name} has {mask_ds.count} bands; {t} dates expected"
                )
            mask_indexes = list(range(1, t + 1))
        elif cloud_mask is not None:
            raise InvalidInputError(f"{source.name} is already cleaned (tag 'cleaning'); it takes no cloud mask")
        days = days_of(prep.dates) if prep.dates and len(prep.dates) == t else np.arange(t, dtype=float)
        return cls(prep, mask_ds, mask_indexes, days, scorer.spec.channels)

    def __call__(self, tile: np.ndarray, window: object) -> np.ndarray:
        from eotrust.eo.clouds import interpolate_time

        t, c = len(self.days), self.channels
        data = tile.astype(np.float32).reshape(t, c, *tile.shape[1:])
        if self.mask_ds is not None:
            mask = self.mask_ds.read(self.mask_indexes, window=window).astype(np.float32)  # type: ignore[attr-defined]
            cloudy = np.isin(mask, np.asarray(self.prep.cloud_values, np.float32))
            data[np.broadcast_to(cloudy[:, None], data.shape)] = np.nan
            if self.prep.gap_fill == "interpolate":
                data = interpolate_time(data, self.days)
        with np.errstate(all="ignore"):
            self.total += np.nansum(data, axis=(0, 2, 3))
            self.n += (~np.isnan(data)).sum(axis=(0, 2, 3))
        return data.reshape(tile.shape)

    def warnings(self) -> tuple[str, ...]:
        prep = self.prep
        if not prep.mean or not prep.std or not self.n.any():
            return ()
        mean = self.total / np.maximum(self.n, 1)
        shift = np.abs(mean - np.asarray(prep.mean)) / np.maximum(np.asarray(prep.std), 1e-12)
        if (shift > prep.max_shift).any():
            worst = int(np.argmax(shift))
            return (
                f"input unlike the training data: channel {worst} averages {mean[worst]:.4g}, {shift[worst]:.1f} "
                f"training standard deviations from the training mean {prep.mean[worst]:.4g} "
                f"(flagged above {prep.max_shift:g}); the class map may be meaningless",
            )
        return ()


def memory_needed(scorer: Scorer, source: Path, tile: int | None = None) -> int:
    """Bytes :func:`score_scene` holds for the raster at ``source``: its strip buffers (K
    sums, weights and a mask over a tile's rows of the whole width) and the tiles in flight
    with their float32 copies and outputs — what a server takes from its memory budget before
    it scores a scene someone sent (onnxruntime's own allocations are bounded apart)."""
    import rasterio

    with rasterio.open(source, driver="GTiff") as ds:
        width, height, bands = int(ds.width), int(ds.height), int(ds.count)
        itemsize = int(np.dtype(ds.dtypes[0]).itemsize)
    default = (scorer.spec.tile_size or DEFAULT_IMAGE_TILE) if scorer.is_image else DEFAULT_SERIES_TILE
    size = int(tile or default)
    rows, cols = min(size, height), min(size, width)
    k = scorer.num_classes
    strips = (4 * (k + 1) + 1) * rows * width
    tiles = READ_AHEAD * rows * cols * (bands * (itemsize + 4) + k * 4 * 2)
    return strips + tiles


def _check_memory(source: Path, k: int, rows: int, width: int, height: int) -> None:
    """Refuse, before allocating, a scene whose strip buffers (K class sums, weights, a valid
    mask: ``rows`` rows of the whole width) would take more than half this machine's memory."""
    need, budget = (4 * (k + 1) + 1) * rows * width, half_of_memory()
    if need > budget:
        raise RasterError(
            f"raster {source} ({width}×{height} px) is too large to score in memory: its strip buffers need "
            f"{need / 2**30:.1f} GiB, more than half this machine's memory ({budget / 2**30:.1f} GiB)",
            hint="cut it into pieces (`eotrust eo tile`) or score a smaller area",
        )


def _finished(job: tuple, progress: Progress | None, done: int, total: int) -> int:  # type: ignore[type-arg]
    """Wait for a blend job (raising its error); report progress; the number of tiles it held."""
    future, tiles = job
    future.result()
    if progress:
        progress(done + tiles, total)
    return int(tiles)


def _probabilities(scorer: Scorer, tiles: np.ndarray) -> np.ndarray:
    """(n, K, h, w) for a stack of raster tiles (n, bands, h, w)."""
    if scorer.is_image:
        return scorer.probabilities(tiles)
    return np.stack([scorer.score_block(t) for t in tiles])


def _yield_to_model() -> None:
    """Lower this helper thread's scheduling priority (Linux: a thread's own nice value) so
    that onnxruntime's threads get the cores when both want them: the reader and the writer
    then run in the model's gaps instead of stalling its parallel operators. Best effort."""
    import threading

    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + HELPER_NICE, 19))


def _all_planes(strip: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Pixels where ``test`` holds in every band, one band plane at a time (no (bands, h, w)
    temporary)."""
    out: np.ndarray = test(strip[0])
    for plane in strip[1:]:
        out &= test(plane)
    return out


def _valid_mask(strip: np.ndarray, nodata: float | None) -> np.ndarray:
    invalid = np.zeros(strip.shape[1:], bool)
    if nodata is not None:
        if np.isnan(nodata):
            invalid |= _all_planes(strip, np.isnan)
        else:
            invalid |= _all_planes(strip, lambda p: p == nodata)
    if np.issubdtype(strip.dtype, np.floating):
        invalid |= _all_planes(strip, np.isnan)
    return ~invalid


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    size = max(1, size)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _common_profile(src) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "driver": "GTiff",
        "width": src.width,
        "height": src.height,
        "crs": src.crs,
        "transform": src.transform,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "BIGTIFF": "IF_SAFER",
    }


def _class_profile(src) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**_common_profile(src), "count": 1, "dtype": classmap.DTYPE, "nodata": classmap.NODATA}


def _prob_profile(src, k: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {**_common_profile(src), "count": k, "dtype": "float32", "nodata": float("nan"), "predictor": 3}
