"""Batch scoring: arrays in, arrays out, with onnxruntime only (no PyTorch).

A :class:`Scorer` holds one verified package's manifest and an onnxruntime session. It
checks what it is given (number of bands, a real number type), applies the manifest's
normalisation, pads image tiles to the model's spatial multiple and crops the result back.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from eotrust.errors import InvalidInputError, ModelError
from eotrust.ml.package import (
    Manifest,
    ModelPackage,
    first_line,
    load_session,
    read_package,
    short_list,
    verify_package,
)
from eotrust.ml.scoring.watchdog import Watchdog

if TYPE_CHECKING:
    import onnxruntime as ort

    from eotrust.ml.scoring.batcher import Batcher

#: Longest one onnxruntime call may run (``Settings.model_max_seconds``) before it is stopped.
DEFAULT_MAX_SECONDS = 300.0

#: Rows of pixel series scored per onnxruntime call.
SERIES_BATCH = 65536

#: onnxruntime's words when a graph computes an output other than the array bound for it.
_OTHER_OUTPUT = re.compile(
    r"invalid dimensions for output|Invalid rank for output|Unexpected output data type|"
    r"computed output shape|OutputMLValue",
    re.IGNORECASE,
)


def session_options(threads: int | None = None, max_memory_mb: int | None = None) -> ort.SessionOptions:
    """Options for a scoring session: full graph optimisation, ``threads`` intra-op threads,
    no spinning, and the process's capped arena (:mod:`eotrust.ml.ort_memory`; ``max_memory_mb``
    fixes the cap if this is the process's first session)."""
    import onnxruntime as ort

    from eotrust.ml.ort_memory import cap_model_memory

    opts = ort.SessionOptions()
    cap_model_memory(opts, max_memory_mb)
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 4  # failures are raised (one line each), not logged as well
    # Idle threads sleep instead of spinning: scoring shares the CPU with the reader thread,
    # a server's other requests and other processes, and spinning threads starve them
    # (measured on 2 shared cores: 8 FPS spinning, 15 FPS not).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


def check_real(x: np.ndarray, what: str = "input") -> None:
    """Refuse arrays that are not real numbers (bool, complex, strings, objects, dates)."""
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise InvalidInputError(
            f"{what} has dtype {x.dtype}; a model takes real numbers (integers or floats)",
            hint="send uint8/uint16/int16/float32 pixel values",
        )


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Softmax along ``axis``, computed in place in ``x`` (a float array the caller owns)."""
    x -= x.max(axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=axis, keepdims=True)
    return x


class Scorer:
    """Scores arrays with one model package.

    Build it with :meth:`from_file` (verifies the package) or from a :class:`ModelPackage`
    already verified. ``threads``: onnxruntime's intra-op threads (default: all cores)."""

    def __init__(
        self,
        package: ModelPackage,
        *,
        threads: int | None = None,
        cid: str | None = None,
        max_memory_mb: int | None = None,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> None:
        self.package = package
        self.max_seconds = max_seconds
        self.manifest: Manifest = package.manifest
        self.cid = cid
        self.session = load_session(package, session_options(threads, max_memory_mb))
        spec = self.manifest.input
        self.spec = spec
        self.num_classes = self.manifest.output.classes
        self._mean, self._std = self._normalisation()
        self._batcher: Batcher | None = None
        self._watchdog = Watchdog()
        self._batcher_lock = threading.Lock()

    @classmethod
    def from_file(
        cls,
        path: Path,
        *,
        cid: str | None = None,
        verify: bool = True,
        threads: int | None = None,
        max_memory_mb: int | None = None,
        max_seconds: float = DEFAULT_MAX_SECONDS,
    ) -> Scorer:
        """A scorer for the package at ``path``; with ``verify`` (default) the package is checked
        completely first (CID when given, signature, graph)."""
        if verify:
            report = verify_package(Path(path), cid=cid, check_graph=False)
            cid = report.cid
        return cls(
            read_package(Path(path)), threads=threads, cid=cid, max_memory_mb=max_memory_mb, max_seconds=max_seconds
        )

    # -- shapes ---------------------------------------------------------------
    @property
    def is_image(self) -> bool:
        return self.spec.kind == "image"

    @property
    def raster_bands(self) -> int:
        return self.spec.raster_bands

    @property
    def spatial_multiple(self) -> int:
        return self.spec.spatial_multiple

    def _normalisation(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        norm = self.spec.normalisation
        if norm is None:
            return None, None
        mean = np.asarray(norm.mean, dtype=np.float32)
        std = np.asarray(norm.std, dtype=np.float32)
        # broadcast along the channel axis: (1, C, 1, 1) images, (1, C, 1) NCT, scalar NT
        shape = {"NCHW": (1, -1, 1, 1), "NCT": (1, -1, 1), "NT": (1, -1)}[self.spec.layout]
        if self.spec.layout == "NT":
            return mean.reshape(1, 1), std.reshape(1, 1)
        return mean.reshape(shape), std.reshape(shape)

    def prepare(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Check and normalise a batch in the graph's layout; float32, NaN -> 0 after normalising.

        ``out``: a float32 array of ``x``'s shape to write into (a pipeline's reused buffer,
        sparing the allocation and its page faults); ignored when it does not fit."""
        check_real(x)
        spec = self.spec
        rank = {"NCHW": 4, "NT": 2, "NCT": 3}[spec.layout]
        if x.ndim != rank:
            raise InvalidInputError(
                f"input has shape {x.shape}; model {self.manifest.name} takes {spec.layout} ({rank} axes)"
            )
        if spec.layout in ("NCHW", "NCT") and x.shape[1] != spec.channels:
            raise InvalidInputError(
                f"input has {x.shape[1]} bands; model {self.manifest.name} takes {spec.channels} "
                f"({', '.join(spec.bands[: spec.channels]) if spec.kind == 'image' else 'channels'})",
                hint="select the model's bands in its order",
            )
        if spec.layout in ("NT", "NCT") and x.shape[-1] != spec.timesteps:
            raise InvalidInputError(
                f"input has {x.shape[-1]} time steps; model {self.manifest.name} takes {spec.timesteps}"
            )
        # one pass fewer than astype-then-subtract, the same bits: the ufunc's float32 loop casts
        # each input to float32 first, as astype does
        if out is None or out.shape != x.shape or out.dtype != np.float32:
            out = np.empty(x.shape, np.float32)
        if self._mean is not None:
            np.subtract(x, self._mean, out=out, dtype=np.float32, casting="unsafe")
            out /= self._std
        else:
            np.copyto(out, x, casting="unsafe")
        if np.issubdtype(x.dtype, np.floating):  # integers cannot be NaN or infinite
            out[~np.isfinite(out)] = 0.0
        return out

    # -- scoring --------------------------------------------------------------
    def run(self, x: np.ndarray) -> np.ndarray:
        """Raw graph output for an already prepared batch; a call that runs past
        :attr:`max_seconds` is stopped (onnxruntime's terminate flag) with a ModelError."""
        import onnxruntime as ort

        options = ort.RunOptions()
        # the output goes into an array of the one shape the manifest allows for this input,
        # (N, K, H, W) or (N, K) float32: a graph that computes another (more classes, another
        # type, a tile repeated a million times) fails before it is allocated
        expected = (x.shape[0], self.num_classes, *x.shape[2:]) if self.is_image else (x.shape[0], self.num_classes)
        out = np.empty(expected, np.float32)
        binding = self.session.io_binding()
        x = np.ascontiguousarray(x)  # bound by address: kept alive here until the call returns
        binding.bind_cpu_input(self.spec.name, x)
        binding.bind_output(self.manifest.output.name, "cpu", 0, np.float32, out.shape, out.ctypes.data)
        token = self._watchdog.arm(options, self.max_seconds)
        try:
            self.session.run_with_iobinding(binding, options)
            return out
        except Exception as exc:
            from eotrust.ml.ort_memory import exceeded

            if options.terminate:
                raise ModelError(
                    f"model {self.manifest.name} was stopped on input {x.shape} after {self.max_seconds:g} s",
                    hint="no tile needs that long; the limit is model_max_seconds",
                ) from None
            too_much = exceeded(exc)
            if too_much is not None:
                raise ModelError(
                    f"model {self.manifest.name} was stopped on input {x.shape}: {too_much}",
                    hint="the graph allocates more than any tile needs; the cap is model_max_memory_mb",
                ) from None
            if _OTHER_OUTPUT.search(str(exc)):
                raise ModelError(
                    f"model {self.manifest.name} does not give the {expected} float32 output its manifest "
                    f"declares for input {x.shape}",
                    hint="the graph and its manifest disagree; the package cannot be scored",
                ) from None
            raise ModelError(
                f"scoring with model {self.manifest.name} failed on input {x.shape}: {first_line(exc)}"
            ) from None
        finally:
            self._watchdog.disarm(token)

    @property
    def batcher(self) -> Batcher:
        """This scorer's :class:`~eotrust.ml.scoring.batcher.Batcher` (made on first use)."""
        with self._batcher_lock:
            if self._batcher is None:
                from eotrust.ml.scoring.batcher import Batcher

                self._batcher = Batcher(self, max_rows=16 if self.is_image else SERIES_BATCH)
            return self._batcher

    def probabilities(self, x: np.ndarray, *, shared: bool = False) -> np.ndarray:
        """Class probabilities: ``(N, K, H, W)`` for an image batch ``(N, C, H, W)`` (any H, W:
        padded to the model's multiple and cropped back), ``(N, K)`` for series.

        ``shared``: run the model through :attr:`batcher`, together with other threads'
        inputs (a server's concurrent requests), instead of calling it directly."""
        run = self.batcher.run if shared else self.run
        single = self.is_image and x.ndim == 3
        if single:
            x = x[None]
        if self.is_image:
            batch, size = self.prepare_images(x)
            out = self.finish(run(batch), size)
        else:
            batch = self.prepare(x)
            out = (
                np.concatenate([run(batch[i : i + SERIES_BATCH]) for i in range(0, len(batch), SERIES_BATCH)])
                if len(batch)
                else np.zeros((0, self.num_classes), np.float32)
            )
            out = self.finish(out)
        return out[0] if single else out

    def prepare_images(self, x: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, int]]:
        """An image batch ``(N, C, H, W)`` checked, normalised and padded to the model's
        multiple, ready for :meth:`run`; and its ``(H, W)`` for :meth:`finish`. (Split from
        :meth:`probabilities` so that a pipeline can prepare, run and finish in different threads.)
        ``out``: as for :meth:`prepare`."""
        batch = self.prepare(x, out)
        h, w = batch.shape[-2:]
        return pad_to_multiple(batch, self.spatial_multiple), (h, w)

    def finish(self, out: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Raw graph output -> class probabilities: cropped back to ``size`` (images), softmax
        over the class axis when the graph gives logits (in place: ``out`` is consumed)."""
        if size is not None:
            h, w = size
            if out.shape[-2:] != (h, w):
                out = out[..., :h, :w]
        if self.manifest.output.kind == "logits":
            out = softmax(out, 1)
        return out

    def classify(self, x: np.ndarray) -> np.ndarray:
        """Class indices (uint8 when K <= 256): ``(N, H, W)`` / ``(H, W)`` for images, ``(N,)`` for series."""
        return class_map(self.probabilities(x), axis=-3 if self.is_image else -1)

    def score_block(self, block: np.ndarray) -> np.ndarray:
        """Probabilities ``(K, h, w)`` of a raster block ``(bands, h, w)`` in the manifest's band order.

        Image models see the block as one image; pixel-series models score each pixel's series
        (band ``t * C + c`` is channel ``c`` at time ``t``: date-major, as cubes are written)."""
        if block.ndim != 3:
            raise InvalidInputError(f"a raster block has shape (bands, height, width), not {block.shape}")
        bands, h, w = block.shape
        if bands != self.raster_bands:
            raise InvalidInputError(
                f"the raster has {bands} bands; model {self.manifest.name} takes "
                f"{self.raster_bands} ({short_list(self.spec.bands)})",
                hint="select the model's bands in its order",
            )
        if self.is_image:
            probs: np.ndarray = self.probabilities(block[None])[0]
            return probs
        t, c = self.spec.timesteps or 1, self.spec.channels
        series = block.reshape(t, c, h * w).transpose(2, 1, 0)  # (h*w, C, T)
        if self.spec.layout == "NT":
            series = series[:, 0, :]
        probs = self.probabilities(np.ascontiguousarray(series))  # (h*w, K)
        return probs.T.reshape(self.num_classes, h, w)


def class_map(probs: np.ndarray, axis: int) -> np.ndarray:
    """Index of the largest score along ``axis`` (the first on ties), uint8 when K <= 256."""
    dtype = np.uint8 if probs.shape[axis] <= 256 else np.uint16
    k = probs.shape[axis]
    if axis < 0:
        axis += probs.ndim
    if axis == probs.ndim - 1 or k > 64:
        best_index: np.ndarray = np.argmax(probs, axis=axis).astype(dtype)
        return best_index
    # a running maximum over K contiguous planes beats argmax's strided walk along a leading
    # axis; masked copies into preallocated arrays beat boolean indexing (half the time)
    planes = np.moveaxis(probs, axis, 0)
    best = planes[0].copy()
    out = np.zeros(best.shape, dtype)
    better = np.empty(best.shape, bool)
    for i in range(1, k):
        np.greater(planes[i], best, out=better)
        np.copyto(best, planes[i], where=better)
        np.copyto(out, dtype(i), where=better)
    return out


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """Pad the last two axes up to multiples of ``multiple`` (reflecting the edge)."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if not ph and not pw:
        return x
    mode: Literal["reflect", "edge"] = "reflect" if ph < h and pw < w else "edge"
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)], mode=mode)
