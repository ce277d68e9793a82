"""`eotrust label suggest|import`: active learning — thin shells over :mod:`eotrust.ml.active`."""

from __future__ import annotations

from pathlib import Path

import typer

from eotrust.cli.common import JsonOption, backends_of, checked_seed, console, print_json

label_app = typer.Typer(
    help="Active learning: suggest the most informative places to label, import the labels.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(label_app, name="label")


@label_app.command("suggest")
def suggest_cmd(
    model: Path = typer.Option(..., "--model", help="the current checkpoint"),
    raster: Path = typer.Option(..., "--raster", help="the cube (or time-series raster) to label on"),
    out: Path = typer.Option(Path("suggestions.geojson"), "-o", "--output", help="GeoJSON to write"),
    n: int = typer.Option(20, "-n", "--count", min=1, max=10_000, help="how many places to suggest"),
    strategy: str = typer.Option("margin", "--strategy", help="margin, entropy or random"),
    min_distance: float = typer.Option(
        3.0, "--min-distance", min=0, help="least distance between suggestions, in pixels"
    ),
    patch: int = typer.Option(
        1, "--patch", min=1, max=31, help="odd side of a square patch per suggestion (1: points)"
    ),
    labelled: Path | None = typer.Option(None, "--labelled", help="label raster of what is labelled already"),
    cloud_mask: Path | None = typer.Option(None, "--cloud-mask"),
    seed: int = typer.Option(0, "--seed", help="for --strategy random"),
    as_json: bool = JsonOption,
) -> None:
    """Suggest N places to label, most informative first and spread apart, as GeoJSON
    (fill in each feature's "label" with a class name or code, then `eotrust label import`)."""
    from eotrust.ml.active import suggest, write_suggestions

    checked_seed(seed)
    picks, grid = suggest(
        model,
        raster,
        n,
        strategy=strategy,  # type: ignore[arg-type]
        min_distance=min_distance,
        labelled=labelled,
        cloud_mask=cloud_mask,
        seed=seed,
    )
    write_suggestions(picks, grid, out, strategy=strategy, patch=patch, model=str(model))
    if as_json:
        print_json({"path": str(out), "strategy": strategy, "suggestions": [s.__dict__ for s in picks]})
        return
    from eotrust.cli.common import Table

    table = Table(title=f"{len(picks)} suggestions ({strategy}, at least {min_distance:g} px apart) → {out}")
    for col in ("rank", "row", "col", "score", "predicted", "confidence"):
        table.add_column(col, justify="right" if col != "predicted" else "left")
    for s in picks[:20]:
        table.add_row(str(s.rank), str(s.row), str(s.col), f"{s.score:.3f}", s.predicted, f"{s.confidence:.3f}")
    console.print(table)
    if len(picks) > 20:
        console.print(f"… and {len(picks) - 20} more in {out}")


@label_app.command("import")
def import_cmd(
    ctx: typer.Context,
    geojson: Path = typer.Argument(..., help="the labelled GeoJSON (each feature's 'label': class name or code)"),
    like: Path = typer.Option(..., "--like", help="the raster the suggestions were made on (its grid)"),
    out: Path = typer.Option(..., "-o", "--output", help="label raster to write (labels so far + these)"),
    base: Path | None = typer.Option(None, "--base", help="the label raster of the previous rounds"),
    classes: str | None = typer.Option(
        None, "--classes", help="class list, e.g. '2 forest,3 grassland' (default: --base's)"
    ),
    parent: str | None = typer.Option(None, "--parent", help="CID of the previous round"),
    suggestions: Path | None = typer.Option(None, "--suggestions", help="the suggestions file the labels answer"),
    model: Path | None = typer.Option(None, "--model", help="the model that made the suggestions"),
    store_it: bool = typer.Option(True, "--store/--no-store", help="store the round by CID with its provenance"),
    as_json: bool = JsonOption,
) -> None:
    """Take labelled GeoJSON back into a label raster on the raster's grid; store the round."""
    from eotrust.eo.labels import ClassList
    from eotrust.errors import InvalidInputError
    from eotrust.ml.active import class_list_of, import_labels, read_round, record_round

    if classes:
        class_list = ClassList.parse(classes)
    elif base is not None:
        class_list = class_list_of(base)
    else:
        raise InvalidInputError("give --classes (or --base, a label raster that declares them)")
    if store_it and parent is not None:
        read_round(backends_of(ctx).store, parent)  # before -o is written: nothing half-done if it is none
    report = import_labels(geojson, like, out, classes=class_list, base=base)
    cid = None
    if store_it:
        cid, _ = record_round(
            backends_of(ctx).store,
            labelled=geojson,
            labels=out,
            labelled_pixels=report.total_pixels,
            parent=parent,
            suggestions=suggestions,
            suggested_by=model,
        )
    if as_json:
        print_json({**report.model_dump(), "round": cid})
        return
    console.print(
        f"labels {out}: {report.labelled_features} labelled features ({report.new_pixels} new pixels, "
        f"{report.total_pixels} in all), {report.skipped_unlabelled} unlabelled skipped; "
        + ", ".join(f"{k} {v}" for k, v in report.counts.items())
    )
    if cid:
        console.print(f"round {cid}")
