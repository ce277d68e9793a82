"""`eotrust model`: package, sign, verify, register and score models.

Every command is a thin shell over ``eotrust.ml`` (package, onnx_export, registry, scoring)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from eotrust.cli.common import (
    AsOption,
    JsonOption,
    acting_party,
    backends_of,
    console,
    err_console,
    print_json,
    settings_of,
)
from eotrust.errors import InvalidInputError

if TYPE_CHECKING:
    from eotrust.ml.registry import ModelEntry

model_app = typer.Typer(help="Model packages: package, verify, register, score (onnxruntime).", no_args_is_help=True)

ExporterOption = typer.Option(
    "auto", "--exporter", help="ONNX exporter: auto (dynamo, else torchscript), dynamo, torchscript"
)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")


def _progress(label: str):  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=False
    )


def _exporter(name: str):  # type: ignore[no-untyped-def]
    if name not in ("auto", "dynamo", "torchscript"):
        raise InvalidInputError(f"unknown exporter {name!r}", hint="use auto, dynamo or torchscript")
    return name


def _is_package(path: Path) -> bool:
    """A model package (a ZIP that starts with manifest.json), not a checkpoint (torch.save
    writes ZIPs too)."""
    import zipfile

    from eotrust.ml.package import MANIFEST

    if not zipfile.is_zipfile(path):
        # a damaged (e.g. truncated) package: its first local header still names the manifest
        with open(path, "rb") as fh:
            head = fh.read(30 + len(MANIFEST))
        return head[:4] == b"PK\x03\x04" and head[30:] == MANIFEST.encode()
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return bool(names) and names[0] == MANIFEST


@model_app.command("package")
def package_cmd(
    ctx: typer.Context,
    checkpoint: Path = typer.Argument(..., exists=True, dir_okay=False, help="a trained checkpoint (.pt)"),
    output: Path = typer.Option(..., "--output", "-o", help="the package file to write"),
    name: str | None = typer.Option(None, "--name", help="model name (default: the checkpoint's)"),
    description: str = typer.Option("", "--description"),
    created: str | None = typer.Option(
        None, "--created", help="UTC time YYYY-MM-DDTHH:MM:SSZ (default: the checkpoint's, else now)"
    ),
    run: str | None = typer.Option(None, "--run", help="CID of the workflow run record that trained it"),
    exporter: str = ExporterOption,
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Export a checkpoint to ONNX (checked against PyTorch), describe it, sign it: a package file."""
    from eotrust.ml.onnx_export import package_checkpoint
    from eotrust.ml.package import verify_package

    account = acting_party(ctx, as_party).account
    with console.status("exporting to ONNX and checking against PyTorch…"):
        path = package_checkpoint(
            checkpoint,
            account,
            output,
            name=name,
            description=description,
            created=created,
            run=run,
            method=_exporter(exporter),
        )
    report = verify_package(path)
    if as_json:
        print_json({"path": str(path), "cid": report.cid, "name": report.name, "owner": report.owner})
        return
    console.print(f"[green]packaged[/] {report.name} → {path}  CID [bold]{report.cid}[/]", highlight=False)


@model_app.command("register")
def register_cmd(
    ctx: typer.Context,
    source: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="a package file, or a checkpoint to package first"
    ),
    name: str | None = typer.Option(None, "--name", help="model name (checkpoints only)"),
    description: str = typer.Option("", "--description", help="(checkpoints only)"),
    created: str | None = typer.Option(None, "--created", help="(checkpoints only) UTC time YYYY-MM-DDTHH:MM:SSZ"),
    run: str | None = typer.Option(None, "--run", help="(checkpoints only) CID of the training run record"),
    cid: str | None = typer.Option(None, "--cid", help="the CID the package must have"),
    exporter: str = ExporterOption,
    as_party: str | None = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Register a model: a package is verified and stored; a checkpoint is packaged and signed
    (``--as``) first. The store keeps the bytes, the catalogue the index (a new version per name)."""
    import tempfile

    from eotrust.limits import regular_file

    regular_file(source, "model")  # before sniffing it for a ZIP: /dev/zero never ends
    settings = settings_of(ctx)
    registry = backends_of(ctx).registry
    if _is_package(source):
        entry = registry.register(source, cid=cid)
    else:
        from eotrust.ml.onnx_export import package_checkpoint

        account = acting_party(ctx, as_party).account
        with tempfile.TemporaryDirectory(dir=settings.path("tmp")) as tmp:
            with console.status("exporting to ONNX and checking against PyTorch…"):
                path = package_checkpoint(
                    source,
                    account,
                    Path(tmp) / "package.zip",
                    name=name,
                    description=description,
                    created=created,
                    run=run,
                    method=_exporter(exporter),
                )
            entry = registry.register(path, cid=cid)
    if as_json:
        print_json(_entry_json(entry))
        return
    console.print(
        f"[green]registered[/] {entry.name} version {entry.version}  CID [bold]{entry.cid}[/]  owner {entry.owner}",
        highlight=False,
    )


@model_app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="a package file (from `eotrust model export`)"),
    cid: str | None = typer.Option(None, "--cid", help="the CID the package must have"),
    as_json: bool = JsonOption,
) -> None:
    """Verify a package file and register it here (its bytes into the store, a row in the catalogue)."""
    entry = backends_of(ctx).registry.register(file, cid=cid)
    if as_json:
        print_json(_entry_json(entry))
        return
    console.print(f"[green]imported[/] {entry.name} version {entry.version}  CID [bold]{entry.cid}[/]", highlight=False)


def _entry_json(entry: ModelEntry) -> dict[str, Any]:
    return {k: v for k, v in entry.__dict__.items() if k != "manifest"}


@model_app.command("list")
def list_cmd(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "--name", help="only this model's versions"),
    as_json: bool = JsonOption,
) -> None:
    """Registered model packages, with their scalar metrics side by side."""
    from eotrust.cli.common import Table
    from eotrust.ml.registry import metrics_table

    entries = backends_of(ctx).registry.list(name)
    if as_json:
        print_json([_entry_json(e) for e in entries])
        return
    metric_names, rows = metrics_table(entries)
    keep = _key_metrics(metric_names)
    table = Table("name", "ver", "CID", "algorithm", "created", *[metric_names[i] for i in keep])
    for e, values in zip(entries, rows):
        table.add_row(e.name, str(e.version), e.cid, e.algorithm, e.created[:10], *[_fmt(values[i]) for i in keep])
    console.print(table)
    if len(keep) < len(metric_names):
        console.print("[dim]every metric: eotrust model show NAME[/]")


_PREFERRED = ("mean_iou", "miou", "pixel_accuracy", "accuracy", "f1", "macro_f1")


def _key_metrics(names: list[str], most: int = 2) -> list[int]:
    """Indexes of the few metrics `model list` shows: IoU and accuracy first."""
    ranked = sorted(
        range(len(names)),
        key=lambda i: next(
            (p for p, want in enumerate(_PREFERRED) if names[i].rsplit(".", 1)[-1] == want), len(_PREFERRED)
        ),
    )
    return sorted(ranked[:most])


def _fmt(v: object) -> str:
    if v is None:
        return "–"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


@model_app.command("show")
def show_cmd(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="CID, NAME (latest version) or NAME:VERSION"),
    as_json: bool = JsonOption,
) -> None:
    """One model: its manifest, lineage (data and run, present in the store or not), and every
    version of its name with metrics side by side."""
    from eotrust.cli.common import Table
    from eotrust.ml.package import short_list
    from eotrust.ml.registry import metrics_table

    registry = backends_of(ctx).registry
    entry = registry.get(ref)
    lineage = registry.lineage(entry.cid)
    versions = registry.versions(entry.name)
    if as_json:
        print_json(
            {
                **_entry_json(entry),
                "manifest": entry.manifest.model_dump(mode="json") if entry.manifest else None,
                "lineage_in_store": lineage,
                "versions": [_entry_json(v) for v in versions],
            }
        )
        return
    m = entry.manifest
    assert m is not None
    console.print(f"[bold]{entry.name}[/] version {entry.version}  CID {entry.cid}", highlight=False)

    def line(text: str) -> None:  # the manifest's words are its owner's: never markup
        console.print(text, highlight=False, markup=False)

    line(f"  {m.description}" if m.description else "")
    line(f"  algorithm {m.algorithm}   created {m.created}   owner {m.owner}   size {entry.size} bytes")
    spec = m.input
    shape = spec.layout + (f" (T={spec.timesteps})" if spec.timesteps else "")
    line(f"  input     {spec.kind} {shape}, {spec.raster_bands} raster bands: {short_list(spec.bands)}")
    if spec.normalisation:
        line(f"  normalise mean {spec.normalisation.mean[:6]} std {spec.normalisation.std[:6]}")
    line(f"  output    {m.output.kind} {m.output.layout}, tile {spec.tile_size}, multiple {spec.spatial_multiple}")
    line("  classes   " + ", ".join(f"{c.index}:{c.name}" for c in m.classes))
    if m.training_params:
        params = {k: v for k, v in m.training_params.items() if not isinstance(v, (dict, list))}
        line("  training  " + ", ".join(f"{k}={v}" for k, v in params.items()))
        model_def = m.training_params.get("model_def")
        if isinstance(model_def, dict) and model_def.get("params"):
            line(f"  model     {model_def.get('architecture', m.algorithm)} {model_def['params']}")
    console.print("  lineage", highlight=False)
    for key, items in lineage.items():
        if key == "model":
            continue
        for item in items:
            mark = "[green]in store[/]" if item["in_store"] else "[yellow]not here[/]"
            console.print(f"    {key:<16} {item['cid']}  {mark}", highlight=False)
    metric_names, rows = metrics_table(versions)
    table = Table("version", "CID", "created", *metric_names, title=f"versions of {entry.name}")
    for v, values in zip(versions, rows):
        table.add_row(str(v.version), v.cid, v.created, *[_fmt(x) for x in values])
    console.print(table)


@model_app.command("export")
def export_cmd(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="CID, NAME or NAME:VERSION"),
    output: Path = typer.Option(..., "--output", "-o", help="file (or folder) to write the package to"),
) -> None:
    """Write a registered package to a file (checked against its CID on the way out)."""
    path = backends_of(ctx).registry.export(ref, output)
    console.print(f"[green]exported[/] {ref} → {path}", highlight=False)


@model_app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="a package file, or a registered model's CID / NAME[:VERSION]"),
    cid: str | None = typer.Option(None, "--cid", help="the CID the file must have"),
    owner: str | None = typer.Option(None, "--owner", help="the address that must have signed it"),
    as_json: bool = JsonOption,
) -> None:
    """Check a package: its CID, archive, digests, the owner's signature, and that the ONNX graph loads."""
    from eotrust.ml.package import verify_package

    path = Path(target)
    if path.is_file():
        report = verify_package(path, cid=cid, owner=owner)
    else:
        registry = backends_of(ctx).registry
        entry, local = registry.local_path(target)
        report = verify_package(local, cid=cid or entry.cid, owner=owner)
    if as_json:
        print_json(report)
        return
    for check in report.checks:
        console.print(f"  [green]✓[/] {check}", highlight=False)
    console.print(f"[green]verified[/] {report.name} {report.cid}", highlight=False)


def _scorer(ctx: typer.Context, ref: str, threads: int | None):  # type: ignore[no-untyped-def]
    """A package file's scorer, or a registered model's."""
    path = Path(ref)
    if path.is_file():
        from eotrust.ml.scoring.batch import Scorer

        return Scorer.from_file(path, threads=threads)

    return backends_of(ctx).registry.scorer(ref, threads=threads)


@model_app.command("score")
def score_cmd(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="a package file, or a registered model's CID / NAME[:VERSION]"),
    scene: Path = typer.Argument(..., exists=True, dir_okay=False, help="the GeoTIFF to score"),
    output: Path = typer.Option(..., "--output", "-o", help="the class map GeoTIFF to write"),
    probabilities: Path | None = typer.Option(None, "--probabilities", help="also write class probabilities here"),
    tile: int | None = typer.Option(None, "--tile", min=8, help="tile size (default: the model's)"),
    overlap: int | None = typer.Option(None, "--overlap", min=0, help="overlap of tiles (default: tile/8 for images)"),
    batch: int = typer.Option(4, "--batch", min=1, help="tiles per onnxruntime call"),
    threads: int | None = typer.Option(None, "--threads", min=1, help="onnxruntime threads (default: all cores)"),
    cloud_mask: Path | None = typer.Option(
        None,
        "--cloud-mask",
        exists=True,
        dir_okay=False,
        help="the raw series' cloud mask (1 = cloud), for models trained on masked data",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Score a whole scene tile by tile (overlap + blending, bounded memory) into a GeoTIFF.

    The model's own preprocessing (cloud masking, gap filling) is applied to a raw series given
    with its --cloud-mask; inputs unlike the training data are flagged."""
    from eotrust.ml.scoring.scene import score_scene

    scorer = _scorer(ctx, ref, threads)
    with _progress(f"scoring {scene.name}") as bar:
        task = bar.add_task("tiles", total=None)
        result = score_scene(
            scorer,
            scene,
            output,
            probabilities=probabilities,
            tile=tile,
            overlap=overlap,
            batch_size=batch,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            cloud_mask=cloud_mask,
        )
    summary = {
        "classes": str(result.classes),
        "probabilities": str(result.probabilities) if result.probabilities else None,
        "width": result.width,
        "height": result.height,
        "tiles": result.tiles,
        "seconds": round(result.seconds, 3),
        "megapixels_per_second": round(result.megapixels_per_second, 3),
        "warnings": list(result.warnings),
    }
    for w in result.warnings:
        err_console.print(f"[bold red]WARNING[/] {escape(w)}", highlight=False)
    if as_json:
        print_json(summary)
        return
    console.print(
        f"[green]wrote[/] {output} ({result.width}×{result.height}, {result.tiles} tiles, "
        f"{result.megapixels_per_second:.2f} MP/s)",
        highlight=False,
    )


@model_app.command("stream")
def stream_cmd(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="a package file, or a registered model's CID / NAME[:VERSION]"),
    files: list[Path] = typer.Argument(None, help="frames to score (GeoTIFF, PNG, .npy), unless --watch"),
    watch: Path | None = typer.Option(None, "--watch", file_okay=False, help="a folder to watch for new frames"),
    out: Path | None = typer.Option(None, "--out", file_okay=False, help="write each class map here"),
    window: int = typer.Option(8, "--window", min=1, help="frames kept in the sliding window (older are dropped)"),
    batch: int = typer.Option(1, "--batch", min=1, help="frames scored per call"),
    idle_timeout: float | None = typer.Option(
        None, "--idle-timeout", help="stop watching after this many idle seconds"
    ),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1),
    duration: float | None = typer.Option(None, "--duration", help="stop after this many seconds"),
    size: str | None = typer.Option(None, "--size", help="resize frames to HxW first"),
    bands: str | None = typer.Option(None, "--bands", help="0-based band indexes to keep, e.g. 3,2,1"),
    npy: bool = typer.Option(False, "--npy", help="write class maps as .npy instead of GeoTIFF"),
    threads: int | None = typer.Option(None, "--threads", min=1),
    as_json: bool = JsonOption,
) -> None:
    """Score a stream of frames (files or a watched folder) in a sliding window; report FPS and latency."""
    from eotrust.ml.scoring.stream import FolderSink, FolderSource, ListSource, ModelReader, Preprocess, StreamPipeline

    if (watch is None) == (not files):
        raise InvalidInputError("give either frame files or --watch FOLDER")
    for option, seconds in (("--duration", duration), ("--idle-timeout", idle_timeout)):
        if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
            raise InvalidInputError(f"{option} is a number of seconds above 0, not {seconds}")
    # a frame, and its float32 copies and class scores while it is scored, within the memory
    # scoring may take: whoever writes the frames cannot take the machine's
    frame_bytes = (settings_of(ctx).predict_memory_mb << 20) // 4
    pre = None
    if size is not None or bands is not None:
        hw = _stream_size(size) if size is not None else None
        sel = _stream_bands(bands) if bands is not None else None
        pre = Preprocess(bands=sel, size=hw, max_bytes=frame_bytes)
    source = (
        FolderSource(watch, idle_timeout=idle_timeout, max_frame_bytes=frame_bytes)
        if watch
        else ListSource(files, max_frame_bytes=frame_bytes)
    )
    sink = FolderSink(out, as_npy=npy) if out else None
    pipeline = StreamPipeline(
        source, ModelReader(_scorer(ctx, ref, threads)), preprocess=pre, window=window, batch=batch, sink=sink
    )
    if not as_json:
        console.print(f"streaming {'from ' + str(watch) if watch else f'{len(files)} frames'} (Ctrl-C stops)…")
    try:
        stats = pipeline.run(max_frames=max_frames, duration=duration)
    except KeyboardInterrupt:
        pipeline.stop()
        stats = pipeline.stats
    summary = stats.summary()
    if as_json:
        print_json(summary)
    else:
        latency = (
            f"latency p50 {summary['latency_p50_ms']} ms, p95 {summary['latency_p95_ms']} ms"
            if summary["scored"]
            else "no latency to report"
        )
        console.print(
            f"scored {summary['scored']} frames ({summary['dropped']} dropped, {summary['errors']} errors) "
            f"at {summary['fps']} FPS; {latency}",
            highlight=False,
        )
    if stats.errors:  # each said why above; a script must not take the run for a clean one
        raise typer.Exit(1)


def _stream_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        hw = tuple(int(v) for v in parts)
    except ValueError:
        hw = ()
    if len(hw) != 2 or min(hw) < 1:
        raise InvalidInputError(f"--size is HEIGHTxWIDTH in pixels, each at least 1 (e.g. 256x256), not {text!r}")
    return hw[0], hw[1]


def _stream_bands(text: str) -> tuple[int, ...]:
    try:
        sel = tuple(int(v) for v in text.split(","))
    except ValueError:
        sel = ()
    if not sel or min(sel) < 0:
        raise InvalidInputError(f"--bands is a comma-separated list of band indexes from 0 (e.g. 3,2,1), not {text!r}")
    return sel
