"""`eotrust eo`: rasters, cubes, tiles, labels and training datasets — thin shells over
:mod:`eotrust.eo`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from eotrust.cli.common import JsonOption, backends_of, checked_seed, console, print_json
from eotrust.errors import InvalidInputError

eo_app = typer.Typer(
    help="Earth-observation rasters: info, stack, tile, labels, training datasets.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(eo_app, name="eo")


@eo_app.command("info")
def info(raster: Path = typer.Argument(..., help="a GeoTIFF/COG"), as_json: bool = JsonOption) -> None:
    """Grid, bands, dates, nodata and tags of a raster."""
    from eotrust.eo.raster import raster_info

    ri = raster_info(raster)
    if as_json:
        print_json(ri.to_dict())
        return
    g = ri.grid
    console.print(f"[bold]{escape(str(raster))}[/]")
    console.print(f"  grid      {g.describe() if g.crs else f'{g.width}x{g.height} px, NO CRS'}")
    console.print(f"  bounds    {tuple(round(v, 2) for v in g.bounds)}")
    console.print(
        f"  bands     {ri.count} x {ri.dtype}, nodata {ri.nodata}, blocks {ri.block_shape}, compress {ri.compress}"
    )
    names = sorted(set(ri.band_names))
    console.print(f"  variables {', '.join(names)}", markup=False)
    if ri.dates:
        console.print(f"  dates     {len(ri.dates)}: {ri.dates[0]} … {ri.dates[-1]}", markup=False)
    for k, v in ri.tags.items():
        if k != "dates":
            console.print(f"  tag {k} = {v[:100]}{'…' if len(v) > 100 else ''}", highlight=False, markup=False)


def _source(spec: str, resampling: str = "bilinear") -> object:
    from eotrust.eo.cube import Source

    name, sep, path = spec.partition("=")
    if sep and not Path(spec).exists():
        return Source(Path(path), band=name, resampling=resampling)
    return Source(Path(spec), resampling=resampling)


@eo_app.command("stack")
def stack_cmd(
    rasters: list[str] = typer.Argument(..., help="rasters to stack, each PATH or BAND=PATH"),
    out: Path = typer.Option(..., "-o", "--output", help="the cube GeoTIFF to write"),
    mask: Path | None = typer.Option(None, "--mask", help="cloud mask raster (1 = cloud), one band per date"),
    like: Path | None = typer.Option(
        None, "--like", help="put the cube on this raster's grid (default: the first raster's)"
    ),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="fill dates a band lacks by interpolation instead of refusing"
    ),
    composite_days: float | None = typer.Option(
        None, "--composite-days", help="median composites over windows of this many days instead of interpolating"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Stack rasters (dates, sensors, bands) into one time-series cube on a common grid; with
    --mask, mask clouds and fill the gaps (interpolation in time, or composites)."""
    from eotrust.eo.clouds import clean_cube
    from eotrust.eo.cube import Source, stack, write_cube
    from eotrust.eo.raster import raster_info
    from eotrust.eo.tiles import temporal_windows

    sources = [_source(r) for r in rasters]
    if mask is not None:
        sources.append(Source(mask, band="cloud_mask", resampling="nearest"))
    grid = raster_info(like).grid if like else None
    cube = stack(sources, grid=grid, allow_missing=allow_missing)  # type: ignore[arg-type]
    composite = composite_days is not None  # 0 too: refused, not taken for "no composites"
    if mask is not None or allow_missing or composite:
        wins = temporal_windows(cube.dates, days=composite_days) if composite else None
        report = clean_cube(
            cube,
            out,
            mask_band="cloud_mask" if mask is not None else None,
            method="composite" if composite else "interpolate",
            windows_=wins,
        )
        summary: dict[str, Any] = {
            "cube": str(out),
            "dates": report.dates,
            "bands": list(report.bands),
            "grid": cube.grid.to_dict(),
            "masked_fraction": round(report.masked_fraction, 4),
            "all_cloud_dates": list(report.all_cloud_dates),
            "never_clear_pixels": report.never_clear_pixels,
        }
    else:
        write_cube(cube, out)
        summary = {"cube": str(out), "dates": len(cube.dates), "bands": list(cube.bands), "grid": cube.grid.to_dict()}
    if as_json:
        print_json(summary)
        return
    console.print(
        f"cube {out}: {summary['dates']} dates x bands {', '.join(summary['bands'])} on {cube.grid.describe()}"
    )
    if mask is not None:
        console.print(
            f"  {100 * summary['masked_fraction']:.1f} % of observations masked; "
            f"{len(summary['all_cloud_dates'])} dates cloudy everywhere; gaps filled"
        )


@eo_app.command("tile")
def tile_cmd(
    raster: Path = typer.Argument(...),
    out_dir: Path = typer.Option(..., "-o", "--output", help="folder for the tiles and tiles.json"),
    size: int = typer.Option(256, "--size", help="tile side in pixels"),
    overlap: int = typer.Option(0, "--overlap", help="pixels shared by neighbouring tiles"),
    keep_empty: bool = typer.Option(False, "--keep-empty", help="also write tiles that are only nodata"),
    as_json: bool = JsonOption,
) -> None:
    """Cut a raster into georeferenced GeoTIFF tiles (read tile by tile: bounded memory)."""
    from eotrust.eo.tiles import tile_raster

    report = tile_raster(raster, out_dir, size, overlap, skip_empty=not keep_empty)
    if as_json:
        print_json(
            {"tiles": len(report.tiles), "skipped_empty": report.skipped_empty, "index": str(out_dir / "tiles.json")}
        )
        return
    console.print(
        f"{len(report.tiles)} tiles of {size} px (overlap {overlap}) in {out_dir}; "
        f"{report.skipped_empty} empty tiles skipped; index {out_dir / 'tiles.json'}"
    )


@eo_app.command("labels")
def labels_cmd(
    like: Path = typer.Option(..., "--like", help="the cube (or any raster) whose grid the labels take"),
    out: Path = typer.Option(..., "-o", "--output", help="label GeoTIFF to write"),
    vector: Path | None = typer.Option(None, "--vector", help="reference polygons (GeoPackage, GeoJSON…; any CRS)"),
    field: str = typer.Option("class", "--field", help="the polygons' class field (codes or names)"),
    classes: str | None = typer.Option(
        None, "--classes", help="class list, e.g. '2 forest,3 grassland' (--raster: instead of its classes tag)"
    ),
    layer: str | None = typer.Option(None, "--layer"),
    all_touched: bool = typer.Option(False, "--all-touched", help="burn every pixel a polygon touches"),
    raster: Path | None = typer.Option(None, "--raster", help="a label raster to put on the grid (nearest)"),
    synthetic: bool = typer.Option(False, "--synthetic", help="label from spectral-index rules (no reference)"),
    rules: Path | None = typer.Option(None, "--rules", help="YAML/JSON list of rules for --synthetic"),
    as_json: bool = JsonOption,
) -> None:
    """Labels on a cube's grid: rasterised polygons, an aligned label raster, or synthetic
    labels from spectral-index rules."""
    from eotrust.eo.cube import open_cube
    from eotrust.eo.labels import DEFAULT_RULES, ClassList, IndexRule, align_labels, rasterize_labels, synthetic_labels
    from eotrust.eo.raster import raster_info

    chosen = [x for x in (vector, raster, synthetic or None) if x]
    if len(chosen) != 1:
        raise InvalidInputError("give exactly one of --vector, --raster or --synthetic")
    grid = raster_info(like).grid
    if vector is not None:
        if not classes:
            raise InvalidInputError("--vector needs --classes (e.g. '2 forest,3 grassland')")
        counts = rasterize_labels(
            vector, grid, out, field=field, classes=ClassList.parse(classes), layer=layer, all_touched=all_touched
        )
    elif raster is not None:
        counts = align_labels(raster, grid, out, classes=ClassList.parse(classes) if classes else None)
    else:
        rule_list = DEFAULT_RULES
        if rules is not None:
            from eotrust.limits import YAML_LIMITS, load_yaml, read_document

            try:
                text = read_document(rules, max_bytes=YAML_LIMITS.max_bytes, what="rules file").decode()
                loaded = load_yaml(text, what=f"rules file {rules}")  # bounded (issue 12)
                rule_list = tuple(IndexRule.model_validate(r) for r in (loaded or []))
            except Exception as exc:  # noqa: BLE001 - yaml and pydantic errors alike
                reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                raise InvalidInputError(f"rules file {rules} is invalid: {reason}") from None
        counts = synthetic_labels(open_cube(like), out, rule_list)
    if as_json:
        print_json({"labels": str(out), "counts": {str(k): v for k, v in sorted(counts.items())}})
        return
    console.print(f"labels {out}: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


@eo_app.command("dataset")
def dataset_cmd(
    ctx: typer.Context,
    cube: Path = typer.Argument(..., help="a (cleaned) cube GeoTIFF"),
    labels: Path = typer.Argument(..., help="label raster on the cube's grid"),
    out: Path | None = typer.Option(None, "-o", "--output", help="also keep the archive here"),
    tile_size: int = typer.Option(16, "--tile-size", help="tile side in pixels"),
    block_size: int | None = typer.Option(None, "--block-size", help="split block side (a multiple of the tile size)"),
    seed: int = typer.Option(0, "--seed"),
    val: float = typer.Option(0.1, "--val", help="share of blocks for validation"),
    test: float = typer.Option(0.2, "--test", help="share of blocks for test"),
    classes: str | None = typer.Option(None, "--classes", help="class list (default: the labels' classes tag)"),
    all_classes: bool = typer.Option(
        False, "--all-classes", help="keep every listed class, even one no pixel holds yet (active-learning rounds)"
    ),
    store_it: bool = typer.Option(True, "--store/--no-store", help="put the archive into the store and print its CID"),
    as_json: bool = JsonOption,
) -> None:
    """Build a training dataset (zarr shards + manifest) and store it by CID."""
    import tempfile

    from eotrust.cid import cid_of_file
    from eotrust.eo.dataset import build_dataset, put_dataset
    from eotrust.eo.labels import ClassList

    if out is None and not store_it:
        raise InvalidInputError("with --no-store, give -o FILE: the dataset must go somewhere")
    checked_seed(seed)
    from eotrust.limits import regular_file

    regular_file(cube, "cube")  # hashed below: a device such as /dev/zero never ends
    regular_file(labels, "labels")
    with tempfile.TemporaryDirectory() as tmp:
        dest = out or Path(tmp) / "dataset.zip"
        sources = {"cube": cid_of_file(cube), "labels": cid_of_file(labels)}
        manifest = build_dataset(
            cube,
            labels,
            dest,
            tile_size=tile_size,
            block_size=block_size,
            seed=seed,
            fractions=(1.0 - val - test, val, test),
            classes=ClassList.parse(classes) if classes else None,
            sources=sources,
            keep_absent=all_classes,
        )
        cid = put_dataset(_store(ctx), dest) if store_it else cid_of_file(dest)
    summary = {
        "cid": cid,
        "file": str(out) if out else None,
        "tiles": len(manifest.tiles),
        "classes": [c.name for c in manifest.classes],
        "counts": manifest.counts,
        "stored": store_it,
    }
    if as_json:
        print_json(summary)
        return
    for split, counts in manifest.counts.items():
        console.print(f"  {split:<5} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    console.print(
        f"training dataset{' stored' if store_it else ''}: {len(manifest.tiles)} tiles of {tile_size} px, "
        f"classes {', '.join(c.name for c in manifest.classes)}; its CID:"
    )
    typer.echo(cid)  # last, alone on its line: CID=$(eotrust eo dataset … | tail -1)


def _store(ctx: typer.Context) -> object:
    return backends_of(ctx).store
