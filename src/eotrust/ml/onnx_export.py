"""PyTorch -> ONNX, checked against PyTorch numerically.

The graph's batch axis is always dynamic; an image model's height and width are too (within
the model's own constraints, e.g. multiples of 8 for ENet). ``method="dynamo"`` is
``torch.onnx.export(..., dynamo=True)`` (torch.export + onnxscript), the supported exporter;
``"torchscript"`` is the legacy exporter, kept as a fallback for models torch.export cannot
capture; ``"auto"`` tries the first, then the second.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from eotrust.errors import ModelError
from eotrust.ml.package import first_line

if TYPE_CHECKING:
    import torch
    from eth_account.signers.local import LocalAccount

log = logging.getLogger(__name__)

Method = Literal["auto", "dynamo", "torchscript"]
Layout = Literal["NCHW", "NT", "NCT"]

#: Dynamic axes of the input per layout (axis -> name); the output's are the same axes (its
#: batch, and an image output's height and width).
DYNAMIC_AXES: dict[str, dict[int, str]] = {
    "NCHW": {0: "batch", 2: "height", 3: "width"},
    "NT": {0: "batch"},
    "NCT": {0: "batch"},
}


def export_onnx(
    model: torch.nn.Module,
    example: torch.Tensor,
    *,
    layout: Layout,
    input_name: str = "input",
    output_name: str = "logits",
    method: Method = "auto",
    opset: int = 18,
    spatial_multiple: int = 1,
) -> bytes:
    """The ONNX graph of ``model`` (in eval mode) as bytes, with dynamic batch (and H, W, which
    the model may constrain to multiples of ``spatial_multiple``)."""
    model = model.eval()
    methods: tuple[str, ...] = ("dynamo", "torchscript") if method == "auto" else (method,)
    errors: list[str] = []
    for how in methods:
        try:
            with tempfile.TemporaryDirectory() as tmp, _quiet():
                path = Path(tmp) / "model.onnx"
                if how == "dynamo":
                    _export_dynamo(model, example, path, layout, input_name, output_name, opset, spatial_multiple)
                else:
                    _export_torchscript(model, example, path, layout, input_name, output_name, opset)
                return path.read_bytes()
        except Exception as exc:  # exporters raise many kinds of errors
            first = first_line(exc)
            errors.append(f"{how}: {first}")
            log.info("ONNX export with %s failed: %s", how, first)
    raise ModelError(
        "the model could not be exported to ONNX (" + "; ".join(errors) + ")",
        hint="keep the forward pass free of data-dependent Python control flow",
    )


def _export_dynamo(
    model: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    layout: Layout,
    input_name: str,
    output_name: str,
    opset: int,
    multiple: int,
) -> None:
    import torch
    from torch.export import Dim

    dims = {}
    for axis, name in DYNAMIC_AXES[layout].items():
        dims[axis] = multiple * Dim(f"{name}_{multiple}", min=1) if axis >= 2 and multiple > 1 else Dim(name, min=1)
    if example.shape[0] == 1:  # torch.export specialises a size of 1: trace with two
        example = torch.cat([example, example])
    program = torch.onnx.export(
        model,
        (example,),
        None,
        dynamo=True,
        input_names=[input_name],
        output_names=[output_name],
        dynamic_shapes=(dims,),
        opset_version=opset,
        external_data=False,
        verbose=False,
        optimize=True,
    )
    if program is None:  # only when no file is given: one was
        raise ModelError("the dynamo exporter returned no ONNX program")
    program.save(str(path), external_data=False)


def _export_torchscript(
    model: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    layout: Layout,
    input_name: str,
    output_name: str,
    opset: int,
) -> None:
    import torch

    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=False,
        input_names=[input_name],
        output_names=[output_name],
        opset_version=opset,
        do_constant_folding=True,
        dynamic_axes={input_name: DYNAMIC_AXES[layout], output_name: DYNAMIC_AXES[layout]},
    )


@contextlib.contextmanager
def _quiet():  # type: ignore[no-untyped-def]
    """The exporters print progress to stdout and warn about deprecations: keep that out of our output."""
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        torch_log.setLevel(level)


def max_difference(model: torch.nn.Module, graph: bytes, sample: np.ndarray) -> float:
    """Largest absolute difference between PyTorch's and onnxruntime's outputs on ``sample``."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    ours = session.run(None, {name: sample.astype(np.float32)})[0]
    with torch.no_grad():
        theirs = model.eval()(torch.from_numpy(sample.astype(np.float32))).numpy()
    if ours.shape != theirs.shape:
        raise ModelError(f"ONNX output shape {ours.shape} differs from PyTorch's {theirs.shape}")
    return float(np.max(np.abs(ours - theirs))) if ours.size else 0.0


def export_checked(
    model: torch.nn.Module,
    example: torch.Tensor,
    *,
    layout: Layout,
    checks: list[np.ndarray] | None = None,
    atol: float = 1e-3,
    **kwargs: object,
) -> bytes:
    """:func:`export_onnx`, then compare with PyTorch on ``example`` and on each of ``checks``
    (other batch sizes and spatial sizes, to prove the axes are really dynamic)."""
    graph = export_onnx(model, example, layout=layout, **kwargs)  # type: ignore[arg-type]
    for sample in [example.detach().cpu().numpy(), *(checks or [])]:
        diff = max_difference(model, graph, sample)
        if not diff <= atol:
            raise ModelError(
                f"the ONNX graph differs from PyTorch by {diff:.2e} on input {sample.shape} (tolerance {atol:.0e})",
                hint="an operator may export incorrectly; try method='torchscript'",
            )
    return graph


def package_model(
    model: torch.nn.Module,
    account: LocalAccount,
    dest: Path,
    *,
    name: str,
    algorithm: str,
    classes: list[str],
    bands: list[str],
    layout: Layout = "NCHW",
    timesteps: int | None = None,
    colours: list[str] | None = None,
    class_codes: list[int] | None = None,
    normalisation: dict[str, list[float]] | None = None,
    tile_size: int | None = None,
    spatial_multiple: int = 1,
    metrics: dict[str, Any] | None = None,
    training_params: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
    description: str = "",
    created: str | None = None,
    method: Method = "auto",
    preprocessing: dict[str, Any] | None = None,
) -> Path:
    """Export ``model`` to ONNX (checked against PyTorch), describe it, sign it with ``account``
    and write the package to ``dest``.

    ``layout``: ``NCHW`` for image models (``bands`` are the C channels), ``NT``/``NCT`` for
    per-pixel series models (``bands`` are the raster's T*C bands, date-major)."""
    import torch

    from eotrust.clock import utc_now
    from eotrust.ml.package import (
        InputSpec,
        Lineage,
        Manifest,
        Normalisation,
        OutputSpec,
        Preprocessing,
        graph_info,
        make_classes,
        pack,
    )

    kind = "image" if layout == "NCHW" else "pixel-series"
    channels = len(bands) if layout == "NCHW" else (1 if layout == "NT" else len(bands) // (timesteps or 1))
    spec = InputSpec(
        kind=kind,
        layout=layout,
        bands=list(bands),
        channels=channels,
        timesteps=timesteps,
        tile_size=tile_size,
        spatial_multiple=spatial_multiple,
        normalisation=Normalisation(**normalisation) if normalisation else None,
    )
    gen = torch.Generator().manual_seed(0)
    if layout == "NCHW":
        side = max(spatial_multiple, 8) * max(1, 64 // max(spatial_multiple, 8))
        example = torch.randn(1, channels, side, side, generator=gen)
        m = max(spatial_multiple, 1)
        checks = [torch.randn(2, channels, 5 * m, 7 * m, generator=gen).numpy()]
    else:
        shape = (4, timesteps) if layout == "NT" else (4, channels, timesteps)
        example = torch.randn(*shape, generator=gen)
        checks = [torch.randn(9, *shape[1:], generator=gen).numpy()]
    graph = export_checked(
        model, example, layout=layout, checks=checks, method=method, spatial_multiple=spatial_multiple
    )
    manifest = Manifest(
        name=name,
        description=description,
        algorithm=algorithm,
        created=created or utc_now(),
        owner=account.address,
        training_params=training_params or {},
        lineage=Lineage(**(lineage or {})),
        input=spec,
        output=OutputSpec(layout="NKHW" if kind == "image" else "NK", classes=len(classes)),
        classes=make_classes(list(classes), colours, class_codes),
        metrics=_jsonable(metrics or {}),
        graph=graph_info(graph),
        preprocessing=Preprocessing(**preprocessing) if preprocessing else None,
    )
    return pack(manifest, graph, account, dest)


def _jsonable(value: object) -> object:
    """Metrics as plain JSON (numpy scalars and arrays, tensors -> numbers and lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def package_checkpoint(
    checkpoint: Path,
    account: LocalAccount,
    dest: Path,
    *,
    name: str | None = None,
    description: str = "",
    created: str | None = None,
    run: str | None = None,
    method: Method = "auto",
) -> Path:
    """Package a training checkpoint (:func:`eotrust.ml.train.load_checkpoint`): its model,
    classes (names, colours, label codes), bands, normalisation, metrics, training parameters
    and data CIDs go into the manifest; the checkpoint's own CID and the run record's
    (``run``) into its lineage.

    A pixel model's raster bands are ``BAND@DATE``, date-major, as cubes are written; a tile
    model's are its channels as the checkpoint names them."""
    from eotrust.cid import cid_of_file
    from eotrust.ml.models.enet import SPATIAL_MULTIPLE, ENet
    from eotrust.ml.train import load_checkpoint

    model, meta = load_checkpoint(Path(checkpoint))
    model_def = dict(meta.get("model_def") or {})
    params = dict(meta.get("train_params") or {})
    if meta.get("input_kind") == "pixel":
        layout = meta.get("input_layout", "NCT")
        dates = [str(d) for d in meta["dates"]]
        bands = [f"{b}@{d}" for d in dates for b in meta.get("cube_bands", meta["bands"])]
        timesteps: int | None = len(dates)
    else:
        layout, bands, timesteps = "NCHW", list(meta["bands"]), None
    data = meta.get("dataset_cid")
    lineage = {
        "training_data": list(data) if isinstance(data, (list, tuple)) else [data] if data else [],
        "validation_data": list(meta.get("validation_cids") or []),
        "run": run or meta.get("run"),
        "checkpoint": cid_of_file(Path(checkpoint)),
    }
    codes = meta.get("class_codes")
    return package_model(
        model,
        account,
        dest,
        name=name or meta.get("name") or model_def.get("name") or Path(checkpoint).stem,
        algorithm=str(model_def.get("architecture") or type(model).__name__.lower()),
        classes=list(meta["classes"]),
        colours=meta.get("colours"),
        class_codes=[int(c) for c in codes] if codes else None,
        bands=bands,
        layout=layout,
        timesteps=timesteps,
        normalisation=meta.get("normalisation"),
        tile_size=meta.get("tile_size"),
        spatial_multiple=SPATIAL_MULTIPLE if isinstance(model, ENet) else 1,
        metrics=meta.get("metrics"),
        training_params={**params, "model_def": model_def},
        lineage=lineage,
        description=description or meta.get("description") or model_def.get("description", ""),
        created=created or meta.get("created") or _file_time(Path(checkpoint)),
        method=method,
        preprocessing=_preprocessing(meta),
    )


def _preprocessing(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The preprocessing a pixel model's training data went through (from its checkpoint)."""
    prep = meta.get("preprocessing") or {}
    if meta.get("input_kind") != "pixel" or not prep:
        return None
    stats = meta.get("band_normalisation") or {}
    return {
        "cloud_mask": bool(prep.get("mask_band")),
        "gap_fill": prep.get("cleaning") or "none",
        "dates": [str(d) for d in meta["dates"]],
        "mean": list(stats.get("mean", [])),
        "std": list(stats.get("std", [])),
    }


def _file_time(path: Path) -> str:
    """A checkpoint's time when it does not record one: ``SOURCE_DATE_EPOCH`` when set (as for
    reproducible builds), else the file's modification time — never "now", so packaging the
    same checkpoint twice gives the same package and CID."""
    import os

    from eotrust.clock import utc_iso

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    seconds = int(epoch) if epoch and epoch.isdigit() else int(path.stat().st_mtime)
    return utc_iso(seconds)
