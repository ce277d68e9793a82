"""INT8 graphs: onnxruntime's static quantisation of a package's float graph, calibrated on
training tiles and checked against the float graph on evaluation tiles.

:func:`quantise_graph` runs ``quant_pre_process`` (ONNX shape inference and onnxruntime's
basic graph optimisations: constant folding, Conv+BatchNormalization fusion) and then
``quantize_static`` in QDQ format (the format onnxruntime's CPU kernels fuse into
``QLinearConv`` and friends; ``QuantOptions.format="QOperator"`` writes those operators
into the graph instead): uint8 activations with ranges taken from the calibration tiles
(MinMax), int8 weights per output channel. Operators in ``excluded_ops`` stay float:
``MaxPool`` by default, which onnxruntime runs faster in float on x86 (measured with
``benchmarks/scoring.py``).

:func:`quantise_package` makes a second signed package from a float one: the same manifest
(name suffixed ``-int8``) whose graph entry says ``precision: int8`` and how it was made, and
whose lineage names the float package's CID (``derived_from``), so both can ship. With
evaluation tiles it measures both graphs' pixel accuracy on them and refuses (nothing
written) when the INT8 graph loses more than ``max_drop`` percentage points.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eotrust.errors import InvalidInputError, ModelError
from eotrust.ml.package import (
    Accuracy,
    Manifest,
    ModelPackage,
    Quantisation,
    first_line,
    graph_info,
    pack,
    read_package,
    verify_package,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from eotrust.ml.scoring.batch import Scorer

log = logging.getLogger(__name__)

#: Operator types left in float unless asked otherwise (faster in float on x86 CPUs).
DEFAULT_EXCLUDED_OPS = ("MaxPool",)
#: Tiles (image models) or rows (pixel-series models) per calibration batch.
IMAGE_BATCH, SERIES_BATCH = 4, 65536
#: Most percentage points of pixel accuracy an INT8 graph may lose against its float graph.
MAX_DROP_POINTS = 0.5


@dataclass(frozen=True)
class QuantOptions:
    """Options of :func:`quantise_graph` (see onnxruntime's ``quantize_static``).

    ``reduce_range``: 7-bit weights, for x86 CPUs without VNNI where 8-bit products can
    saturate; off by default because per-channel weights are what matter here, and the
    accuracy check catches a graph that saturates."""

    per_channel: bool = True
    reduce_range: bool = False
    #: "QDQ" (default) or "QOperator": on one AVX2 core without VNNI the QOperator graph of the
    #: benchmark's ENet took 88 ms of CPU a frame, QDQ 96, float32 110 (2026-12-01, loaded machine)
    format: str = "QDQ"
    activations: str = "uint8"
    weights: str = "int8"
    calibration: str = "minmax"
    excluded_ops: tuple[str, ...] = DEFAULT_EXCLUDED_OPS


def quantise_graph(
    graph: bytes, batches: list[np.ndarray], *, input_name: str, options: QuantOptions | None = None
) -> bytes:
    """The INT8 (QDQ) form of the float ONNX ``graph``, its activation ranges calibrated on
    ``batches`` (prepared inputs, as the graph takes them)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    options = options or QuantOptions()
    if not batches:
        raise InvalidInputError("quantisation needs calibration data: give at least one training tile")
    types = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    formats = {"QDQ": QuantFormat.QDQ, "QOperator": QuantFormat.QOperator}
    if options.format not in formats:
        raise InvalidInputError(f"unknown quantisation format {options.format!r}", hint="use QDQ or QOperator")
    if options.activations not in types or options.weights not in types or options.calibration not in methods:
        raise InvalidInputError(
            f"unknown quantisation types {options.activations}/{options.weights} or calibration "
            f"{options.calibration!r}",
            hint="use uint8/int8 and minmax, entropy or percentile",
        )

    class _Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime is untyped
        def __init__(self) -> None:
            self._it: Iterator[np.ndarray] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._it, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory(prefix="eotrust-quantise-") as tmp, _quiet():
        src, pre, out = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(graph)
        try:
            # symbolic shape inference is for transformers; it gives up on dynamic image graphs
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            proto = onnx.load(str(pre))
            excluded = [n.name for n in proto.graph.node if n.op_type in options.excluded_ops]
            quantize_static(
                str(pre),
                str(out),
                _Reader(),
                quant_format=formats[options.format],
                per_channel=options.per_channel,
                reduce_range=options.reduce_range,
                activation_type=types[options.activations],
                weight_type=types[options.weights],
                calibrate_method=methods[options.calibration],
                nodes_to_exclude=excluded,
            )
        except Exception as exc:  # onnxruntime's tools raise many kinds of errors
            raise ModelError(
                f"onnxruntime could not quantise the graph: {first_line(exc)}",
                hint="check that the calibration tiles match the model's input",
            ) from None
        return out.read_bytes()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnxruntime's quantisation tools log and print progress: keep it out of our output."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def calibration_batches(scorer: Scorer, tiles: np.ndarray) -> list[np.ndarray]:
    """Raw tiles in the model's input layout (``(N, C, H, W)`` image tiles, ``(N, T)`` or
    ``(N, C, T)`` series), normalised as the scorer does and cut into batches."""
    from eotrust.ml.scoring.batch import pad_to_multiple

    tiles = np.asarray(tiles)
    if tiles.ndim == 0 or len(tiles) == 0:
        raise InvalidInputError("quantisation needs calibration data: give at least one training tile")
    prepared = scorer.prepare(tiles)
    if scorer.is_image:
        prepared = pad_to_multiple(prepared, scorer.spatial_multiple)
        if not np.isfinite(prepared).all():
            raise InvalidInputError("the calibration tiles hold values that are not finite")
    step = IMAGE_BATCH if scorer.is_image else SERIES_BATCH
    return [np.ascontiguousarray(prepared[i : i + step]) for i in range(0, len(prepared), step)]


def pixel_accuracy(scorer: Scorer, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Fraction of labelled pixels (or series) the scorer classifies as ``y`` says, and how
    many there are; labels outside ``0 .. K-1`` (nodata) are not counted."""
    y = np.asarray(y)
    expected = x.shape[:1] + x.shape[2:] if scorer.is_image else x.shape[:1]
    if y.shape != expected:
        raise InvalidInputError(f"evaluation labels have shape {y.shape}; tiles {x.shape} need {expected}")
    step = IMAGE_BATCH if scorer.is_image else SERIES_BATCH
    correct = total = 0
    for i in range(0, len(x), step):
        pred = scorer.classify(x[i : i + step])
        truth = y[i : i + step]
        labelled = (truth >= 0) & (truth < scorer.num_classes)
        correct += int((pred[labelled] == truth[labelled]).sum())
        total += int(labelled.sum())
    if total == 0:
        raise InvalidInputError("the evaluation labels hold no class of the model")
    return correct / total, total


def scorer_of(manifest: Manifest, graph: bytes, threads: int | None = None) -> Scorer:
    """A scorer of ``graph`` described by ``manifest`` (in memory: nothing signed yet)."""
    from eotrust.ml.scoring.batch import Scorer

    return Scorer(ModelPackage(manifest, b"", graph, {}), threads=threads)


def quantise_package(
    package: Path,
    account: LocalAccount,
    dest: Path,
    *,
    calibration: np.ndarray,
    evaluation: tuple[np.ndarray, np.ndarray] | None = None,
    max_drop: float = MAX_DROP_POINTS,
    options: QuantOptions | None = None,
    name: str | None = None,
    calibration_data: list[str] | None = None,
    evaluation_data: list[str] | None = None,
    created: str | None = None,
    threads: int | None = None,
) -> Path:
    """Quantise the float graph of the (verified) package at ``package`` into an INT8 package
    at ``dest``, signed by ``account``.

    ``calibration``: raw training tiles in the model's input layout (as a raster gives them;
    the manifest's normalisation is applied). ``evaluation``: raw tiles and their class
    indices; both graphs are scored on them and the INT8 package is refused (ModelError,
    nothing written) when it loses more than ``max_drop`` points of pixel accuracy. The
    CIDs of the data, when known, go into the manifest."""
    report = verify_package(Path(package))
    float_pkg = read_package(Path(package))
    m = float_pkg.manifest
    if m.graph.precision is not None:
        raise InvalidInputError(
            f"model {m.name} already carries an {m.graph.precision_name} graph",
            hint="quantise the float package it was derived from",
        )
    options = options or QuantOptions()
    float_scorer = scorer_of(m, float_pkg.graph_bytes, threads)
    batches = calibration_batches(float_scorer, calibration)
    graph = quantise_graph(float_pkg.graph_bytes, batches, input_name=m.input.name, options=options)
    tiles = sum(len(b) for b in batches)
    accuracy = None
    if evaluation is not None:
        x, y = np.asarray(evaluation[0]), np.asarray(evaluation[1])
        float_acc, pixels = pixel_accuracy(float_scorer, x, y)
        int8_acc, _ = pixel_accuracy(scorer_of(m, graph, threads), x, y)
        accuracy = Accuracy(float32=float_acc, int8=int8_acc, pixels=pixels, data=list(evaluation_data or []))
        if accuracy.drop_points > max_drop:
            raise ModelError(
                f"the INT8 graph of model {m.name} scores {int8_acc:.2%} on the evaluation tiles where the "
                f"float graph scores {float_acc:.2%}: {accuracy.drop_points:.2f} points lost, more than "
                f"{max_drop:g}; not packaged",
                hint="calibrate on more (or more typical) training tiles, or ship the float graph",
            )
    quantisation = Quantisation(
        format=options.format,
        per_channel=options.per_channel,
        reduce_range=options.reduce_range,
        activations=options.activations,
        weights=options.weights,
        calibration=options.calibration,
        calibration_tiles=tiles,
        calibration_data=list(calibration_data or []),
        excluded_ops=list(options.excluded_ops),
        float_graph_sha256=m.graph.sha256,
        accuracy=accuracy,
    )
    lineage = m.lineage.model_copy(update={"derived_from": report.cid})
    manifest = Manifest.model_validate(
        {
            **m.model_dump(),
            "name": name or f"{m.name}-int8"[:200],
            "owner": account.address,
            "created": created or m.created,
            "lineage": lineage.model_dump(),
            "graph": graph_info(graph, quantisation).model_dump(),
        }
    )
    return pack(manifest, graph, account, dest)
