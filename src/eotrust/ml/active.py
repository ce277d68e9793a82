"""Active learning: ask a person for the labels that help the model most, take them back,
and keep every round by CID.

One round is ``suggest`` → a person labels the GeoJSON → ``import_labels`` → train again
(warm-started from the previous model) → ``record_round``:

- :func:`suggest` scores every unlabelled pixel of a cube with the current model and picks
  the ``n`` most informative — the smallest margin between the two most likely classes, or
  the largest entropy (``strategy="random"`` is the baseline) — greedily, most informative
  first, never closer than ``min_distance`` pixels to one already picked or already labelled
  (uncertainty sampling with a minimum distance, as in sits' ``sits_uncertainty_sampling``).
  A suggestion is a point, or a ``patch`` x ``patch`` square around it.
- :func:`write_suggestions` writes them as a GeoJSON FeatureCollection (RFC 7946: longitude /
  latitude; each feature also carries its row, column and native x/y) with an empty
  ``label`` property for the labeller to fill in with a class name or code.
- :func:`import_labels` burns labelled features (points or polygons, any class name or code
  of the class list; unlabelled features are skipped and counted) into a label raster on
  the cube's grid, on top of the labels gathered so far.
- :func:`record_round` stores a canonical JSON record of the round — its parent round,
  the model that suggested, the suggestions, the labelled GeoJSON, the label raster, the
  dataset and model trained from it — and returns its CID: a chain of rounds with provenance.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import rasterio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eotrust.clock import utc_now
from eotrust.eo.labels import NODATA_CODE, ClassList, classes_of
from eotrust.eo.raster import Grid, atomic_path, geotiff_profile, open_raster, raster_info
from eotrust.errors import InvalidInputError, ModelError, first_problem
from eotrust.limits import half_of_memory, json_loads, read_document

#: The largest labelled GeoJSON `label import` reads (points and small patches: far below this).
MAX_LABELS_BYTES = 64 * 1024 * 1024

if TYPE_CHECKING:
    from eotrust.store.base import Store

Strategy = Literal["margin", "entropy", "random"]
STRATEGIES: tuple[str, ...] = ("margin", "entropy", "random")
ROUND_FORMAT: Final = "eotrust-label-round/1"


def informativeness(probs: np.ndarray, strategy: Strategy, *, seed: int = 0) -> np.ndarray:
    """Per-pixel score, larger = more worth labelling: ``1 - margin`` (top-1 minus top-2),
    normalised entropy, or seeded random numbers. ``probs`` is ``(K, ...)``."""
    from eotrust.ml.uncertainty import confidence_bands

    if strategy == "random":
        return np.random.default_rng(seed).random(probs.shape[1:])
    bands = confidence_bands(probs)
    if strategy == "margin":
        margin: np.ndarray = 1.0 - bands[1]
        return margin
    if strategy == "entropy":
        entropy: np.ndarray = bands[2]
        return entropy
    raise InvalidInputError(f"unknown strategy {strategy!r}", hint=f"use one of {', '.join(STRATEGIES)}")


def pick(
    score: np.ndarray,
    n: int,
    *,
    min_distance: float = 0.0,
    candidates: np.ndarray | None = None,
    taken: np.ndarray | None = None,
) -> list[tuple[int, int]]:
    """Up to ``n`` (row, col), highest ``score`` first, each at least ``min_distance`` pixels
    (Euclidean) from every other pick and from every ``taken`` pixel; only where ``candidates``."""
    if n < 1:
        raise InvalidInputError(f"ask for at least one suggestion, not {n}")
    if not (math.isfinite(min_distance) and min_distance >= 0):
        raise InvalidInputError(f"the least distance between suggestions must be 0 or more pixels, not {min_distance}")
    h, w = score.shape
    ok = np.isfinite(score) if candidates is None else (candidates & np.isfinite(score))
    order = np.argsort(-np.where(ok, score, -np.inf), axis=None, kind="stable")[: int(ok.sum())]
    blocked = np.zeros((h, w), bool)
    # a distance past the raster's diagonal keeps a pick from every pixel: no larger reach is
    # needed, and the disc is computed on the raster only (never a (2r+1)² grid of its own)
    reach = min(min_distance, math.hypot(h, w) + 1)
    r = math.ceil(reach)

    def block(row: int, col: int) -> None:
        if r == 0:
            blocked[row, col] = True
            return
        y0, y1, x0, x1 = max(row - r, 0), min(row + r + 1, h), max(col - r, 0), min(col + r + 1, w)
        dy = np.arange(y0 - row, y1 - row)[:, None]
        dx = np.arange(x0 - col, x1 - col)[None, :]
        blocked[y0:y1, x0:x1] |= dy * dy + dx * dx < reach * reach

    if taken is not None and min_distance > 0:
        if reach > math.hypot(h, w) and taken.any():
            blocked[:] = True  # one labelled pixel keeps every other one away
        else:
            for row, col in zip(*np.nonzero(taken)):
                block(int(row), int(col))
    picks: list[tuple[int, int]] = []
    for flat in order:
        row, col = divmod(int(flat), w)
        if blocked[row, col]:
            continue
        picks.append((row, col))
        block(row, col)
        if len(picks) == n:
            break
    return picks


@dataclass(frozen=True)
class Suggestion:
    rank: int
    row: int
    col: int
    score: float
    predicted: str
    confidence: float


class SuggestReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    strategy: str
    suggestions: int
    candidates: int
    min_distance: float
    patch: int
    mean_score: float


def suggest(
    checkpoint: Path,
    cube_path: Path,
    n: int,
    *,
    strategy: Strategy = "margin",
    min_distance: float = 3.0,
    labelled: Path | None = None,
    cloud_mask: Path | None = None,
    seed: int = 0,
    device: str | None = None,
    candidates: np.ndarray | None = None,
) -> tuple[list[Suggestion], Grid]:
    """The ``n`` most informative unlabelled pixels of ``cube_path`` for the model, spread
    apart (see :func:`pick`). ``labelled``: a label raster of what is labelled already (those
    pixels are neither suggested again nor approached closer than ``min_distance``);
    ``candidates``: a boolean ``(rows, cols)`` mask of where suggestions may fall."""
    from eotrust.ml.predict import Predictor

    if strategy not in STRATEGIES:
        raise InvalidInputError(f"unknown strategy {strategy!r}", hint=f"use one of {', '.join(STRATEGIES)}")
    pred = Predictor.load(checkpoint, device=device)
    k = len(pred.meta["classes"])
    _check_rank_memory(cube_path, raster_info(cube_path).grid, k)  # before a raw series is prepared
    cube = pred.input_cube(cube_path, cloud_mask=cloud_mask)
    grid = cube.grid
    probs = np.full((k, grid.height, grid.width), np.nan, np.float32)
    valid = np.zeros((grid.height, grid.width), bool)
    for win, proba, ok in pred.iter_predictions(cube):
        ys = slice(int(win.row_off), int(win.row_off + win.height))
        xs = slice(int(win.col_off), int(win.col_off + win.width))
        probs[:, ys, xs] = proba
        valid[ys, xs] = ok
    taken = np.zeros_like(valid)
    if labelled is not None:
        from eotrust.eo.labels import check_grid

        check_grid(labelled, grid, what="labelled raster")
        with open_raster(labelled) as ds:
            taken = ds.read(1) != NODATA_CODE
    score = informativeness(np.nan_to_num(probs, nan=1.0 / k), strategy, seed=seed)
    allowed = valid & ~taken
    if candidates is not None:
        if candidates.shape != allowed.shape:
            raise InvalidInputError(f"candidate mask {candidates.shape} does not match the raster's {allowed.shape}")
        allowed &= candidates.astype(bool)
    picks = pick(score, n, min_distance=min_distance, candidates=allowed, taken=taken)
    names = list(pred.meta["classes"])
    out = [
        Suggestion(
            i + 1, r, c, float(score[r, c]), names[int(np.nanargmax(probs[:, r, c]))], float(np.nanmax(probs[:, r, c]))
        )
        for i, (r, c) in enumerate(picks)
    ]
    return out, grid


def _check_rank_memory(path: Path, grid: Grid, k: int) -> None:
    """Refuse, before anything is read, a raster whose pixels cannot all be ranked in memory:
    every pixel's K probabilities (and a copy of them), its score, its rank and three masks are
    held at once (8 K + 24 bytes a pixel), within half this machine's memory."""
    need, budget = grid.height * grid.width * (8 * k + 24), half_of_memory()
    if need > budget:
        raise ModelError(
            f"raster {path} ({grid.width}×{grid.height} px) is too large to rank in memory: "
            f"{need / 2**30:.1f} GiB, more than half this machine's memory ({budget / 2**30:.1f} GiB)",
            hint="suggest on a part of it (cut it with `eotrust eo tile`)",
        )


def write_suggestions(
    suggestions: list[Suggestion], grid: Grid, dest: Path, *, strategy: str, patch: int = 1, model: str | None = None
) -> Path:
    """The suggestions as GeoJSON (WGS 84 longitude/latitude, RFC 7946), most informative
    first: a Point per suggestion, or a ``patch`` x ``patch`` pixel square around it."""
    from rasterio.warp import transform_geom

    if patch < 1 or patch % 2 == 0:
        raise InvalidInputError(f"patch {patch} must be an odd number of pixels (1: single points)")
    aff = grid.affine
    half = patch // 2
    features = []
    for s in suggestions:
        x, y = aff @ (s.col + 0.5, s.row + 0.5)
        if patch == 1:
            geom: dict[str, Any] = {"type": "Point", "coordinates": [x, y]}
        else:
            c0, c1 = max(s.col - half, 0), min(s.col + half + 1, grid.width)  # clipped to the grid
            r0, r1 = max(s.row - half, 0), min(s.row + half + 1, grid.height)
            corners = [aff @ (c, r) for c, r in ((c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0))]
            geom = {"type": "Polygon", "coordinates": [[list(c) for c in corners]]}
        wgs = transform_geom(grid.rio_crs, "EPSG:4326", geom, precision=8)
        features.append(
            {
                "type": "Feature",
                "geometry": dict(wgs),
                "properties": {
                    "rank": s.rank,
                    "label": None,
                    "score": round(s.score, 6),
                    "predicted": s.predicted,
                    "confidence": round(s.confidence, 6),
                    "row": s.row,
                    "col": s.col,
                    "x": x,
                    "y": y,
                    "crs": grid.crs,
                },
            }
        )
    doc = {
        "type": "FeatureCollection",
        "features": features,
        "eotrust": {"strategy": strategy, "patch": patch, "model": model, "grid": grid.to_dict()},
    }
    with atomic_path(dest) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=1) + "\n")
    return Path(dest)


class ImportReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    labelled_features: int
    skipped_unlabelled: int
    new_pixels: int
    total_pixels: int
    counts: dict[str, int] = Field(default_factory=dict)


MAX_FEATURES = 100_000


def import_labels(
    geojson: Path, like: Path, dest: Path, *, classes: ClassList, base: Path | None = None, field: str = "label"
) -> ImportReport:
    """Burn the labelled features of ``geojson`` (WGS 84, points or polygons; ``field`` holds
    a class name or code) into a ``uint16`` label raster on ``like``'s grid at ``dest``, over
    ``base`` (the labels so far) when given. Refused, with nothing written: a file that is not
    a FeatureCollection, an unknown class, a feature off the grid."""
    from rasterio.features import rasterize
    from rasterio.warp import transform_geom

    grid = raster_info(like).grid
    try:
        doc = json_loads(read_document(geojson, max_bytes=MAX_LABELS_BYTES, what="labelled GeoJSON"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{geojson} is not readable JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InvalidInputError(
            f"{geojson} is not a GeoJSON FeatureCollection",
            hint="import the file eotrust label suggest wrote, with labels filled in",
        )
    if len(doc["features"]) > MAX_FEATURES:
        raise InvalidInputError(f"{geojson} holds {len(doc['features'])} features; at most {MAX_FEATURES} per import")
    shapes: list[tuple[dict[str, Any], int]] = []
    skipped = 0
    left, bottom, right, top = grid.bounds
    eps = 0.01 * max(grid.res)
    left, bottom, right, top = left - eps, bottom - eps, right + eps, top + eps
    labelled: list[tuple[int, dict[str, Any], int]] = []  # (feature index, geometry, class code)
    for i, f in enumerate(doc["features"]):
        props = f.get("properties") if isinstance(f, dict) else None
        geom = f.get("geometry") if isinstance(f, dict) else None
        if (
            not isinstance(props, dict)
            or not isinstance(geom, dict)
            or geom.get("type") not in ("Point", "Polygon", "MultiPolygon")
        ):
            raise InvalidInputError(f"feature {i} of {geojson} needs properties and a Point or Polygon geometry")
        value = props.get(field)
        if value is None or value == "":
            skipped += 1
            continue
        labelled.append((i, geom, _code_of(value, classes, i)))

    def reproject(i: int, geom: dict[str, Any]) -> Any:
        try:
            return transform_geom("EPSG:4326", grid.rio_crs, geom)
        except Exception as exc:  # noqa: BLE001 - GDAL raises several kinds for bad geometry
            raise InvalidInputError(
                f"feature {i} of {geojson} has an invalid geometry: {str(exc).splitlines()[0]}"
            ) from None

    try:  # every geometry in one call (one per feature cost 40 s for 100,000 points)
        natives = list(transform_geom("EPSG:4326", grid.rio_crs, [g for _, g, _ in labelled])) if labelled else []
    except Exception:  # noqa: BLE001 - then one by one, to name the feature at fault
        natives = [reproject(i, g) for i, g, _ in labelled]
    for (i, _, code), native in zip(labelled, natives, strict=True):
        xs, ys = _coords(native)
        if not xs or min(xs) < left or max(xs) > right or min(ys) < bottom or max(ys) > top:
            raise InvalidInputError(
                f"feature {i} of {geojson} lies (partly) outside the raster's grid",
                hint="label only the suggested places, on the raster they were suggested for",
            )
        if native["type"] == "Point":
            col, row = ~grid.affine @ tuple(native["coordinates"][:2])
            r0, c0 = int(np.floor(row)), int(np.floor(col))
            native = {
                "type": "Polygon",
                "coordinates": [
                    [list(grid.affine @ (c0 + dx, r0 + dy)) for dx, dy in ((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))]
                ],
            }
        shapes.append((native, code))
    if base is not None:
        from eotrust.eo.labels import check_grid

        check_grid(base, grid, what="label raster so far")
        with open_raster(base) as ds:
            before = ds.read(1).astype(np.uint16)
    else:
        before = np.zeros((grid.height, grid.width), np.uint16)
    burnt = (
        rasterize(shapes, out_shape=before.shape, transform=grid.affine, fill=NODATA_CODE, dtype="uint16")
        if shapes
        else np.zeros_like(before)
    )
    after = np.where(burnt != NODATA_CODE, burnt, before).astype(np.uint16)
    with (
        atomic_path(dest) as tmp,
        rasterio.open(tmp, "w", **geotiff_profile(grid, count=1, dtype="uint16", nodata=NODATA_CODE)) as out,
    ):
        out.update_tags(classes=classes.to_tag(), source=Path(geojson).name)
        out.write(after, 1)
    vals, n = np.unique(after[after != NODATA_CODE], return_counts=True)
    return ImportReport(
        path=str(dest),
        labelled_features=len(shapes),
        skipped_unlabelled=skipped,
        new_pixels=int(((burnt != NODATA_CODE) & (before == NODATA_CODE)).sum()),
        total_pixels=int((after != NODATA_CODE).sum()),
        counts={classes.name_of(int(v)): int(k) for v, k in zip(vals, n)},
    )


#: A class name or code is short; a longer label is refused without being quoted back.
MAX_LABEL_CHARS = 100


def _code_of(value: Any, classes: ClassList, i: int) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"feature {i}: label {value!r} is not a class")
    if isinstance(value, str) and len(value) > MAX_LABEL_CHARS:
        raise InvalidInputError(f"feature {i}: a label of {len(value)} characters is not a class name or code")
    # ASCII digits only: "²".isdigit() holds but int("²") fails
    if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip())):
        code = int(value)
        if code not in classes.codes:
            raise InvalidInputError(
                f"feature {i}: class code {code} is not in the class list "
                f"({', '.join(f'{c.code} {c.name}' for c in classes.classes)})"
            )
        return code
    if isinstance(value, str):
        return classes.code_of(value.strip())
    raise InvalidInputError(f"feature {i}: label {value!r} is not a class name or code")


def _coords(geom: dict[str, Any]) -> tuple[list[float], list[float]]:
    flat: list[Any] = []

    def walk(c: Any) -> None:
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            flat.append(c)
        elif isinstance(c, (list, tuple)):
            for item in c:
                walk(item)

    walk(geom.get("coordinates"))
    return [float(c[0]) for c in flat], [float(c[1]) for c in flat]


def class_list_of(path: Path) -> ClassList:
    """The class list a label (or class-map) raster declares in its ``classes`` tag."""
    declared = classes_of(path)
    if declared is None:
        raise InvalidInputError(
            f"{path} declares no classes (no 'classes' tag)",
            hint="give the class list, e.g. --classes '2 forest,3 grassland'",
        )
    return declared


#: Rounds of labelling are counted, not numbered by the labeller: a million is past any project.
MAX_ROUND = 10**6


class LabelRound(BaseModel):
    """One round of active learning, stored by CID."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["eotrust-label-round/1"] = ROUND_FORMAT
    round: int = Field(ge=0, le=MAX_ROUND)
    parent: str | None = Field(default=None, description="CID of the previous round")
    created: str
    strategy: str | None = None
    suggested_by: str | None = Field(default=None, description="CID of the model that made the suggestions")
    suggestions: str | None = Field(default=None, description="CID of the suggestions GeoJSON")
    labelled: str = Field(description="CID of the labelled GeoJSON imported")
    labels: str = Field(description="CID of the label raster after this round")
    labelled_pixels: int
    dataset: str | None = None
    model: str | None = Field(default=None, description="CID of the model trained on this round's labels")


def read_round(store: Store, cid: str) -> LabelRound:
    """The label round stored at ``cid`` (a small record of CIDs); InvalidInputError in one line
    if it is none (read before anything of a new round is written or stored)."""
    from eotrust.store.base import read_at_most

    raw = read_at_most(store, cid, 1 << 20, "label round")
    try:
        return LabelRound.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidInputError(f"{cid} is not a label round: {first_problem(exc)}") from None


def record_round(
    store: Store,
    *,
    labelled: Path,
    labels: Path,
    labelled_pixels: int,
    parent: str | None = None,
    suggestions: Path | None = None,
    suggested_by: Path | None = None,
    strategy: str | None = None,
    dataset: Path | None = None,
    model: Path | None = None,
) -> tuple[str, LabelRound]:
    """Put every file of the round into ``store`` and a :class:`LabelRound` record naming
    them by CID; return the record's CID. The round number follows the parent's."""
    from eotrust.cid import canonical_json

    number = 0 if parent is None else read_round(store, parent).round + 1

    def put(p: Path | None) -> str | None:
        return store.put_file(Path(p)) if p is not None else None

    record = LabelRound(
        round=number,
        parent=parent,
        created=utc_now(),
        strategy=strategy,
        suggested_by=put(suggested_by),
        suggestions=put(suggestions),
        labelled=store.put_file(Path(labelled)),
        labels=store.put_file(Path(labels)),
        labelled_pixels=labelled_pixels,
        dataset=put(dataset),
        model=put(model),
    )
    return store.put_bytes(canonical_json(record.model_dump(mode="json"))), record
