"""`eotrust train|evaluate|predict|change`: thin shells over :mod:`eotrust.ml` (train,
evaluate, predict, change)."""

from __future__ import annotations

from pathlib import Path

import typer

from eotrust.cli.common import JsonOption, backends_of, console, print_json
from eotrust.errors import InvalidInputError


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("predict")(predict_cmd)
    app.command("change")(change_cmd)


def _dataset_file(ctx: typer.Context, ref: str) -> tuple[Path, str]:
    """A dataset given as a local archive or by CID (fetched, verified, from the store)."""
    from eotrust.cid import cid_of_file, validate_cid
    from eotrust.eo.dataset import fetch_dataset

    path = Path(ref)
    if path.is_file():
        return path, cid_of_file(path)
    cid = validate_cid(ref)
    backends = backends_of(ctx)
    return fetch_dataset(backends.store, cid, backends.settings.path("datasets")), cid


def train_cmd(
    ctx: typer.Context,
    dataset: str = typer.Option(..., "--dataset", help="training dataset: CID in the store, or an archive file"),
    model_def: str = typer.Option(..., "--model-def", help="model-definition file (YAML/JSON) or a built-in name"),
    out: Path = typer.Option(Path("model.pt"), "-o", "--output", help="checkpoint to write"),
    epochs: int | None = typer.Option(None, "--epochs", help="override the definition's epochs"),
    seed: int | None = typer.Option(None, "--seed", help="override the definition's seed"),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 … (default: CUDA when present)"),
    init_from: Path | None = typer.Option(
        None, "--init-from", help="continue from this checkpoint (e.g. the last round of labelling)"
    ),
    workers: str = typer.Option(
        "1",
        "--workers",
        help="data-parallel ranks (PyTorch DDP): N local processes, or 'dask' for one per worker of the Dask cluster (EOTRUST_DASK_SCHEDULER)",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Train a model definition on a training dataset; write a checkpoint."""
    from eotrust.eo.dataset import TrainingDataset
    from eotrust.ml.launch import parse_workers
    from eotrust.ml.modeldef import load_model_def
    from eotrust.ml.train import train

    ranks = parse_workers(workers)
    md = load_model_def(model_def).with_training(epochs=epochs, seed=seed)
    path, cid = _dataset_file(ctx, dataset)
    if ranks == "dask":
        result = _train_on_dask(ctx, path, md, out, cid, device, init_from)
    elif isinstance(ranks, int) and ranks > 1:
        from eotrust.ml.launch import train_local

        result = train_local(
            path, md, out, workers=int(ranks), device=device, dataset_cid=cid, init_from=init_from, log=not as_json
        )
    else:
        with TrainingDataset(path) as ds:
            result = train(
                ds,
                md,
                out,
                dataset_cid=cid,
                device=device,
                progress=not as_json and console.is_terminal,
                init_from=init_from,
                log=None if as_json or console.is_terminal else console.print,
            )
    summary = {
        "checkpoint": str(out),
        "dataset": cid,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "seconds": round(result.seconds, 2),
        "samples_per_second": round(result.samples_per_second, 1),
        "device": result.device,
        "val_pixel_accuracy": result.val_metrics.get("pixel_accuracy"),
        "val_mean_iou": result.val_metrics.get("mean_iou"),
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"checkpoint {out}: best epoch {result.best_epoch} of {result.epochs_run} "
        f"({'stopped early' if result.stopped_early else 'all epochs'}), {result.seconds:.1f} s, "
        f"{result.samples_per_second:.0f} samples/s on {result.device}"
    )
    if result.val_metrics:
        console.print(
            f"  validation: pixel accuracy {result.val_metrics['pixel_accuracy']:.3f}, "
            f"mean IoU {result.val_metrics['mean_iou']:.3f}"
        )


def _train_on_dask(  # type: ignore[no-untyped-def]
    ctx: typer.Context,
    path: Path,
    md,
    out: Path,
    cid: str,
    device: str | None,
    init_from: Path | None,
):
    from eotrust.ml.launch import train_on_dask
    from eotrust.workflow.executors.dask_cluster import DaskExecutor

    settings = backends_of(ctx).settings
    if not settings.dask_scheduler:
        raise InvalidInputError(
            "--workers dask needs a Dask scheduler", hint="set EOTRUST_DASK_SCHEDULER=tcp://HOST:8786"
        )
    executor = DaskExecutor(settings, settings.dask_scheduler)
    try:
        return train_on_dask(
            executor.client, path, md, out, device=device, dataset_cid=cid, init_from=init_from, settings=settings
        )
    finally:
        executor.close()


def evaluate_cmd(
    ctx: typer.Context,
    model: Path = typer.Option(..., "--model", help="a checkpoint written by eotrust train"),
    raster: Path | None = typer.Option(None, "--raster", help="time-series raster or cube GeoTIFF to score"),
    labels: Path | None = typer.Option(
        None, "--labels", help="reference label raster on the raster's grid (0 = no data)"
    ),
    cloud_mask: Path | None = typer.Option(None, "--cloud-mask", help="cloud masks of --raster (1 = cloud)"),
    band: str | None = typer.Option(None, "--band", help="the band the raster holds (default: the model's only band)"),
    dataset: str | None = typer.Option(None, "--dataset", help="instead: a training dataset (CID or file) ..."),
    split: str = typer.Option("test", "--split", help="... and its split to score"),
    out: Path = typer.Option(Path("metrics.json"), "-o", "--output", help="metrics JSON to write"),
    figure: Path | None = typer.Option(None, "--figure", help="PNG figure (default: beside the JSON)"),
    device: str | None = typer.Option(None, "--device"),
    as_json: bool = JsonOption,
) -> None:
    """Score a model: pixel accuracy, per-class precision/recall/F1/IoU, mean IoU, confusion matrix.

    On a raster and its labels, or on a dataset's held-out split."""
    from eotrust.ml.evaluate import evaluate_dataset, evaluate_raster, reliability_path, write_metrics

    if dataset is not None:
        path, _ = _dataset_file(ctx, dataset)
        metrics = evaluate_dataset(model, path, split=split, device=device)
    elif raster is not None and labels is not None:
        metrics = evaluate_raster(model, raster, labels, cloud_mask=cloud_mask, band=band, device=device)
    else:
        raise InvalidInputError("give --raster and --labels (or --dataset)")
    png = figure or out.with_suffix(".png")
    write_metrics(metrics, out, png, title=f"{model.name} on {raster.name if raster else f'the {split} split'}")
    if as_json:
        typer.echo(metrics.to_json())
        return
    console.print(metrics.summary(), highlight=False)
    console.print(
        f"metrics {out}, figure {png}"
        + (f", reliability diagram {reliability_path(png)}" if metrics.calibration else "")
    )


def predict_cmd(
    model: Path = typer.Option(..., "--model", help="a checkpoint written by eotrust train"),
    raster: Path = typer.Option(..., "--raster", help="time-series raster or cube GeoTIFF"),
    out: Path = typer.Option(..., "-o", "--output", help="class map GeoTIFF to write"),
    probabilities: Path | None = typer.Option(None, "--probabilities", help="also write class probabilities"),
    figure: Path | None = typer.Option(None, "--figure", help="PNG of the class map (default: beside it)"),
    confidence: Path | None = typer.Option(
        None, "--confidence", help="also write per-pixel confidence, margin, entropy"
    ),
    mc_samples: int = typer.Option(1, "--mc-samples", min=1, max=100, help="MC-dropout passes averaged (1: none)"),
    cloud_mask: Path | None = typer.Option(None, "--cloud-mask", help="cloud masks of --raster (1 = cloud)"),
    band: str | None = typer.Option(None, "--band"),
    start: str | None = typer.Option(None, "--start", help="only dates from this one"),
    end: str | None = typer.Option(None, "--end", help="only dates before this one"),
    device: str | None = typer.Option(None, "--device"),
    as_json: bool = JsonOption,
) -> None:
    """Classify every pixel of a raster, window by window; GeoTIFF with the input's CRS and transform."""
    from eotrust.ml.predict import predict_raster

    png = figure or out.with_suffix(".png")
    result = predict_raster(
        model,
        raster,
        out,
        probabilities=probabilities,
        figure=png,
        cloud_mask=cloud_mask,
        band=band,
        start=start,
        end=end,
        device=device,
        confidence=confidence,
        mc_samples=mc_samples,
    )
    if as_json:
        print_json(
            {
                "classes": str(out),
                "probabilities": str(probabilities) if probabilities else None,
                "confidence": str(confidence) if confidence else None,
                "mean_confidence": result.mean_confidence,
                "figure": str(png),
                "counts": result.counts,
                "nodata_pixels": result.nodata_pixels,
            }
        )
        return
    console.print(f"class map {out} ({', '.join(f'{k} {v}' for k, v in result.counts.items())}); figure {png}")
    if confidence is not None:
        console.print(
            f"confidence {confidence} (bands confidence, margin, entropy; mean confidence {result.mean_confidence:.3f})"
        )


def change_cmd(
    before: Path | None = typer.Argument(None, help="first class map (or raster, with --model)"),
    after: Path | None = typer.Argument(None, help="second class map (or raster, with --model)"),
    out: Path = typer.Option(..., "-o", "--output", help="change GeoTIFF to write"),
    figure: Path | None = typer.Option(None, "--figure", help="PNG heatmap (default: beside it)"),
    model: Path | None = typer.Option(None, "--model", help="classify the inputs (or two epochs of --raster) first"),
    raster: Path | None = typer.Option(None, "--raster", help="with --model: one time series, two epochs of it"),
    epoch_a: str | None = typer.Option(
        None, "--epoch-a", help="START/END of the first epoch (e.g. 2015-07-01/2016-07-01)"
    ),
    epoch_b: str | None = typer.Option(None, "--epoch-b", help="START/END of the second epoch"),
    cloud_mask: Path | None = typer.Option(None, "--cloud-mask"),
    min_intensity: float = typer.Option(
        0.5,
        "--min-intensity",
        min=0.0,
        max=1.0,
        help="with --model: least probability shift that counts as change",
    ),
    min_confidence: float = typer.Option(
        0.6,
        "--min-confidence",
        min=0.0,
        max=1.0,
        help="with --model: pixels less sure than this in either epoch are 'uncertain', not changed",
    ),
    as_json: bool = JsonOption,
) -> None:
    """A change map between two epochs, as GeoTIFF and PNG.

    From two class maps, two rasters classified by --model, or two epochs of one raster."""
    import tempfile

    from eotrust.ml.change import change_between_epochs, change_map
    from eotrust.ml.landcover import _epoch, default_epochs

    png = figure or out.with_suffix(".png")
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        work = Path(tmp)
        if model is not None and raster is not None:
            from eotrust.ml.predict import Predictor

            dates = list(Predictor.load(model).input_cube(raster, cloud_mask=cloud_mask).dates)
            a, b = default_epochs(dates)
            result = change_between_epochs(
                model,
                raster,
                out,
                epoch_a=_epoch(epoch_a) if epoch_a else a,
                epoch_b=_epoch(epoch_b) if epoch_b else b,
                work_dir=work,
                figure=png,
                cloud_mask=cloud_mask,
                min_intensity=min_intensity,
                min_confidence=min_confidence,
            )
        elif before is not None and after is not None and model is not None:
            from eotrust.ml.predict import predict_raster

            maps = []
            for tag, src in (("a", before), ("b", after)):
                c, p = work / f"{tag}_classes.tif", work / f"{tag}_probabilities.tif"
                predict_raster(model, src, c, probabilities=p)
                maps.append((c, p))
            result = change_map(
                maps[0][0],
                maps[1][0],
                out,
                figure=png,
                before_probabilities=maps[0][1],
                after_probabilities=maps[1][1],
                labels=(before.name, after.name),
                min_intensity=min_intensity,
                min_confidence=min_confidence,
            )
        elif before is not None and after is not None:
            result = change_map(before, after, out, figure=png, labels=(before.name, after.name))
        else:
            raise InvalidInputError("give two class maps, or --model with two rasters or with --raster")
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"change map {out}: {result.changed_pixels} of {result.valid_pixels} pixels changed "
        f"({100 * result.fraction:.1f} %), {result.uncertain_pixels} uncertain; heatmap {png}"
    )
    for k, v in list(result.transitions.items())[:5]:
        console.print(f"  {k}: {v}")
