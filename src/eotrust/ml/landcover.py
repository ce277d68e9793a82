"""The land-cover mapping and change application: prepare → dataset → train → evaluate →
predict → change, each a workflow service with the engine's calling convention::

    fn(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None

Inputs are local files; each function writes every declared output to the path given. The
raw inputs come from two data owners: the NDVI time series and its cloud masks (owner A)
and the land-cover reference labels (owner B), taken as separate inputs by ``prepare``.
The workflow document is :func:`workflow_path` (``landcover.yaml`` beside this module).

=========  ===============================  ==================================  =====================================
step       inputs                           outputs                             params (defaults)
=========  ===============================  ==================================  =====================================
prepare    ndvi, cloud_mask, lulc           cube, labels                        cloud_values [1]
dataset    cube, labels                     dataset                             tile_size 10, block_size, seed 0,
                                                                                val_fraction 0.1, test_fraction 0.2
train      dataset [, model_def]            model                               model_def "temporal_cnn", quick false,
                                                                                epochs, seed, device
evaluate   model, dataset                   metrics [, figure]                  split "test"
predict    model, cube                      classes [, probabilities, figure]   start, end
change     model, cube | before, after      change [, figure, summary]          split DATE | epoch_a "START/END", epoch_b
=========  ===============================  ==================================  =====================================
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from eotrust.errors import InvalidInputError


def workflow_path() -> Path:
    """The application's workflow document (YAML, for :mod:`eotrust.workflow`)."""
    return Path(str(resources.files("eotrust.ml") / "landcover.yaml"))


def sample_data() -> Path:
    """The packaged real sample: Sentinel-2 NDVI, cloud masks, LULC labels and DEM (Slovenia)."""
    return Path(str(resources.files("eotrust") / "data" / "slovenia-s2-ndvi"))


def _need(files: dict[str, Path], *names: str, what: str = "input") -> None:
    missing = [n for n in names if n not in files]
    if missing:
        raise InvalidInputError(f"the step needs {what}(s) {missing}; it got {sorted(files)}")


def _log(text: str) -> None:
    print(text, flush=True)


def prepare(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    """Stack NDVI and cloud masks, mask clouds and fill the gaps by interpolation in time
    (→ ``cube``); put the reference labels on the cube's grid, checking their classes (→ ``labels``)."""
    from eotrust.eo.clouds import clean_cube
    from eotrust.eo.cube import Source, stack
    from eotrust.eo.labels import align_labels, check_classes, classes_of

    _need(inputs, "ndvi", "cloud_mask", "lulc")
    _need(outputs, "cube", "labels", what="output")
    cube = stack(
        [
            Source(Path(inputs["ndvi"]), band="ndvi"),
            Source(Path(inputs["cloud_mask"]), band="cloud_mask", resampling="nearest"),
        ]
    )
    report = clean_cube(
        cube, Path(outputs["cube"]), mask_band="cloud_mask", cloud_values=tuple(params.get("cloud_values") or (1,))
    )
    _log(
        f"prepare: {report.dates} dates on {cube.grid.describe()}; {100 * report.masked_fraction:.1f} % of "
        f"observations cloudy ({len(report.all_cloud_dates)} dates entirely), filled by interpolation in time"
    )
    counts = align_labels(Path(inputs["lulc"]), cube.grid, Path(outputs["labels"]))
    declared = classes_of(Path(outputs["labels"]))
    if declared is not None:
        check_classes(Path(outputs["labels"]), declared)
    _log(
        "prepare: labels "
        + ", ".join(f"{declared.name_of(c) if declared else c}={n}" for c, n in sorted(counts.items()) if c)
    )


def dataset(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    """Cut the cleaned cube and labels into tiles on a stratified spatial block split and
    pack them as a training-dataset archive (deterministic bytes, so a stable CID)."""
    from eotrust.cid import cid_of_file
    from eotrust.eo.dataset import build_dataset

    _need(inputs, "cube", "labels")
    _need(outputs, "dataset", what="output")
    tile = int(params.get("tile_size", 10))
    val, test = float(params.get("val_fraction", 0.1)), float(params.get("test_fraction", 0.2))
    manifest = build_dataset(
        Path(inputs["cube"]),
        Path(inputs["labels"]),
        Path(outputs["dataset"]),
        tile_size=tile,
        block_size=int(params["block_size"]) if params.get("block_size") else None,
        fractions=(1.0 - val - test, val, test),
        seed=int(params.get("seed", 0)),
        sources={name: cid_of_file(Path(p)) for name, p in sorted(inputs.items())},
    )
    per_split = {s: sum(c.values()) for s, c in manifest.counts.items()}
    _log(
        f"dataset: {len(manifest.tiles)} tiles of {tile} px; labelled pixels {per_split}; "
        f"classes {[c.name for c in manifest.classes]}"
    )


def train(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    """Train the model definition (a built-in name, or the ``model_def`` input file) on the
    dataset; ``quick`` picks the small definition, ``epochs`` and ``seed`` override."""
    from eotrust.cid import cid_of_file
    from eotrust.eo.dataset import TrainingDataset
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.train import train as train_model

    _need(inputs, "dataset")
    _need(outputs, "model", what="output")
    if "model_def" in inputs:
        model_def = load_model_def(Path(inputs["model_def"]))
    else:
        quick = str(params.get("quick", False)).lower() in ("1", "true", "yes")
        model_def = load_model_def(str(params.get("model_def") or ("temporal_cnn_quick" if quick else "temporal_cnn")))
    model_def = model_def.with_training(
        epochs=int(params["epochs"]) if params.get("epochs") else None,
        seed=int(params["seed"]) if params.get("seed") is not None else None,
    )
    with TrainingDataset(Path(inputs["dataset"])) as ds:
        result = train_model(
            ds,
            model_def,
            Path(outputs["model"]),
            dataset_cid=cid_of_file(Path(inputs["dataset"])),
            device=params.get("device"),
            log=lambda line: _log(f"train: {line}"),
        )
    _log(
        f"train: best epoch {result.best_epoch} of {result.epochs_run} in {result.seconds:.1f} s "
        f"({result.samples_per_second:.0f} samples/s on {result.device})"
    )


def evaluate(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    """Score the model on the dataset's held-out blocks (``split``, default test): metrics
    JSON and a PNG figure."""
    from eotrust.ml.evaluate import evaluate_dataset, write_metrics

    _need(inputs, "model", "dataset")
    _need(outputs, "metrics", what="output")
    metrics = evaluate_dataset(
        Path(inputs["model"]),
        Path(inputs["dataset"]),
        split=str(params.get("split", "test")),
        device=params.get("device"),
    )
    write_metrics(
        metrics,
        Path(outputs["metrics"]),
        Path(outputs["figure"]) if "figure" in outputs else None,
        title=f"land-cover model on the {metrics.split} blocks",
    )
    _log("evaluate: " + metrics.summary().replace("\n", "\n  "))


def predict(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    """Classify every pixel of the cube: class map GeoTIFF (and probabilities, and a PNG)."""
    from eotrust.ml.predict import predict_raster

    _need(inputs, "model", "cube")
    _need(outputs, "classes", what="output")
    result = predict_raster(
        Path(inputs["model"]),
        Path(inputs["cube"]),
        Path(outputs["classes"]),
        probabilities=Path(outputs["probabilities"]) if "probabilities" in outputs else None,
        figure=Path(outputs["figure"]) if "figure" in outputs else None,
        start=params.get("start"),
        end=params.get("end"),
        device=params.get("device"),
    )
    _log(f"predict: {result.counts} ({result.nodata_pixels} pixels without data)")


def _epoch(text: Any) -> tuple[str | None, str | None]:
    start, _, end = str(text).partition("/")
    return (start or None, end or None)


def default_epochs(dates: list[str]) -> tuple[tuple[str | None, str | None], tuple[str | None, str | None]]:
    """The first and the last 365 days of the series."""
    from datetime import timedelta

    from eotrust.eo.raster import parse_date

    first, last = parse_date(dates[0]), parse_date(dates[-1])
    year = timedelta(days=365)
    a = (first.date().isoformat(), (first + year).date().isoformat())
    b = ((last - year + timedelta(days=1)).date().isoformat(), (last + timedelta(days=1)).date().isoformat())
    return a, b


def change(inputs: dict[str, Path], outputs: dict[str, Path], params: dict[str, Any]) -> None:
    """A change map: between two class maps (inputs ``before``, ``after``) or between two
    epochs of the cube classified by the model (``epoch_a``/``epoch_b`` as ``START/END``;
    default the first and the last year). Writes the change GeoTIFF, a PNG, a JSON summary."""
    from eotrust.eo.cube import open_cube
    from eotrust.ml.change import change_between_epochs, change_map

    _need(outputs, "change", what="output")
    figure = Path(outputs["figure"]) if "figure" in outputs else None
    labels: list[str] = ["before", "after"]
    if "before" in inputs and "after" in inputs:
        result = change_map(Path(inputs["before"]), Path(inputs["after"]), Path(outputs["change"]), figure=figure)
    else:
        _need(inputs, "model", "cube")
        dates = list(open_cube(Path(inputs["cube"])).dates)
        a: tuple[str | None, str | None]
        b: tuple[str | None, str | None]
        if params.get("split"):
            a, b = (None, str(params["split"])), (str(params["split"]), None)
        else:
            a, b = default_epochs(dates)
        epoch_a = _epoch(params["epoch_a"]) if params.get("epoch_a") else a
        epoch_b = _epoch(params["epoch_b"]) if params.get("epoch_b") else b
        labels = [f"{s or dates[0]}/{e or dates[-1]}" for s, e in (epoch_a, epoch_b)]
        work = Path(tempfile.mkdtemp(prefix="change-", dir=Path(outputs["change"]).parent))
        try:
            result = change_between_epochs(
                Path(inputs["model"]),
                Path(inputs["cube"]),
                Path(outputs["change"]),
                epoch_a=epoch_a,
                epoch_b=epoch_b,
                work_dir=work,
                figure=figure,
                device=params.get("device"),
                min_intensity=float(params.get("min_intensity", 0.5)),
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if "summary" in outputs:
        summary = {k: v for k, v in result.to_dict().items() if k not in ("path", "figure")}
        Path(outputs["summary"]).write_text(json.dumps({"epochs": labels, **summary}, indent=2) + "\n")
    _log(
        f"change: {result.changed_pixels} of {result.valid_pixels} pixels changed; top transitions "
        + ", ".join(f"{k}: {v}" for k, v in list(result.transitions.items())[:3])
    )
