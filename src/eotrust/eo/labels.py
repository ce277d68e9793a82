"""Labels on a cube's grid: reference polygons rasterised (GeoPackage/GeoJSON, any CRS),
label rasters checked against the grid and the class list, and synthetic labels from
spectral-index rules where no reference exists (as BLENDED generated its ground truth).

Label rasters are ``uint16`` class codes with nodata 0; their ``classes`` tag lists
``CODE NAME`` pairs, comma-separated (how the shared Slovenian ``lulc.tif`` carries them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rasterio.features import rasterize
from rasterio.windows import Window

from eotrust.eo.cube import Cube, iter_windows
from eotrust.eo.raster import Grid, add_counts, atomic_path, block_size_for, geotiff_profile, open_raster, read, windows
from eotrust.errors import InvalidInputError, NotFoundError, RasterError
from eotrust.limits import VECTOR_LIMITS, VectorLimits, file_problem

NODATA_CODE = 0


@dataclass(frozen=True)
class LandClass:
    code: int
    name: str


@dataclass(frozen=True)
class ClassList:
    """The classes a label raster may hold (code 0 is always "no data" and never a class)."""

    classes: tuple[LandClass, ...]

    @classmethod
    def parse(cls, text: str) -> ClassList:
        """``"1 cultivated land,2 forest"`` (the ``classes`` tag) → a ClassList."""
        items = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            code, _, name = part.partition(" ")
            try:
                items.append(LandClass(int(code), name.strip() or f"class {code}"))
            except ValueError:
                raise InvalidInputError(
                    f"class entry {part!r} is not 'CODE NAME'", hint="write classes as '1 forest,2 water'"
                ) from None
        return cls.of(items)

    @classmethod
    def of(cls, items: Iterable[LandClass | tuple[int, str]]) -> ClassList:
        seen: dict[int, LandClass] = {}
        for it in items:
            c = it if isinstance(it, LandClass) else LandClass(int(it[0]), str(it[1]))
            if c.code == NODATA_CODE:
                continue
            if c.code < 0 or c.code > 65534:
                raise InvalidInputError(f"class code {c.code} is outside 1..65534")
            if c.code in seen:
                raise InvalidInputError(f"class code {c.code} is listed twice")
            seen[c.code] = c
        return cls(tuple(sorted(seen.values(), key=lambda c: c.code)))

    @property
    def codes(self) -> list[int]:
        return [c.code for c in self.classes]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def name_of(self, code: int) -> str:
        for c in self.classes:
            if c.code == code:
                return c.name
        return f"class {code}"

    def code_of(self, name: str) -> int:
        for c in self.classes:
            if c.name.lower() == name.lower():
                return c.code
        raise InvalidInputError(f"class {name!r} is not in the class list ({', '.join(self.names)})")

    def only(self, codes: Iterable[int]) -> ClassList:
        keep = set(codes)
        return ClassList(tuple(c for c in self.classes if c.code in keep))

    def to_tag(self) -> str:
        return ",".join([f"{NODATA_CODE} no data"] + [f"{c.code} {c.name}" for c in self.classes])

    def lut(self) -> np.ndarray:
        """code → class index (0..K-1); -1 for nodata and unknown codes."""
        size = max(self.codes + [NODATA_CODE]) + 1
        table = np.full(max(size, 1), -1, dtype=np.int64)
        for i, c in enumerate(self.classes):
            table[c.code] = i
        return table


def classes_of(path: Path) -> ClassList | None:
    """The class list a label raster declares in its ``classes`` tag, if any."""
    with open_raster(path) as ds:
        tag = ds.tags().get("classes")
    return ClassList.parse(tag) if tag else None


def check_grid(path: Path, grid: Grid, *, what: str = "label raster") -> None:
    """Refuse a raster that is not on ``grid`` pixel for pixel."""
    with open_raster(path) as ds:
        other = Grid.from_dataset(ds)
    if not other.matches(grid):
        raise RasterError(
            f"the {what} {path} is on another grid ({other.describe()}) than the cube ({grid.describe()})",
            hint="rasterise or resample the labels onto the cube's grid first (eotrust eo labels --like CUBE)",
        )


def code_counts(path: Path, *, block: int | None = None) -> dict[int, int]:
    """How many pixels carry each code (window by window)."""
    counts: dict[int, int] = {}
    with open_raster(path) as ds:
        grid = Grid.from_dataset(ds)
        for win in windows(grid, block or block_size_for(grid, 8)):
            add_counts(counts, read(ds, 1, window=win))
    return counts


def check_code_dtype(path: Path) -> float | None:
    """InvalidInputError unless the label raster's pixels are integers (class codes are whole
    numbers: 2.7 is no class 2); its nodata value, if it declares one."""
    with open_raster(path) as ds:
        dtype, nodata = np.dtype(ds.dtypes[0]), ds.nodata
    if dtype.kind not in "ui":
        raise InvalidInputError(
            f"{path} holds {dtype} pixels; a label raster holds whole class codes (an integer type)",
            hint="write the labels as uint8 or uint16 class codes, 0 for no data",
        )
    return None if nodata is None else float(nodata)


def check_classes(path: Path, classes: ClassList) -> dict[int, int]:
    """Counts of the label raster's codes; a raster of other than integers, and codes neither
    nodata nor in ``classes``, are refused."""
    check_code_dtype(path)
    counts = code_counts(path)
    unknown = sorted(c for c in counts if c != NODATA_CODE and c not in classes.codes)
    if unknown:
        raise InvalidInputError(
            f"{path} holds class code(s) {unknown} that are not in the class list ({', '.join(f'{c.code} {c.name}' for c in classes.classes)})",
            hint="add them to the class list, or map them to 0 (no data)",
        )
    return counts


# -- vector reference polygons -------------------------------------------------------


#: The first bytes of the vector formats labels are read from: GeoPackage (SQLite), Shapefile.
_VECTOR_MAGIC = {b"SQLite format 3\x00": "GeoPackage", b"\x00\x00\x27\x0a": "Shapefile"}


def check_vector_format(path: Path) -> None:
    """InvalidInputError unless ``path`` is a GeoPackage, a Shapefile or (Geo)JSON by its first
    bytes. OGR would otherwise pick a driver by content: an OGR VRT named ``labels.geojson``
    reads a file of this machine (or a URL) as the polygons another party hands over."""
    if problem := file_problem(path):
        raise InvalidInputError(f"vector file {path} {problem}", hint="give a GeoPackage, GeoJSON or Shapefile")
    with open(path, "rb") as f:
        head = f.read(64)
    if any(head.startswith(magic) for magic in _VECTOR_MAGIC):
        return
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return
    raise InvalidInputError(
        f"{path} is not a GeoPackage, GeoJSON or Shapefile", hint="give a GeoPackage, GeoJSON or Shapefile"
    )


#: Geometries are decoded and counted this many features at a time.
_BATCH = 10_000


#: At most this many vertices (by the size of their WKB) are decoded at a time.
_BATCH_VERTICES = 1_000_000


def _too_many(path: Path, count: int, what: str, most: int, done: str = "read") -> InvalidInputError:
    return InvalidInputError(
        f"{path} holds {count:,} {what} or more; at most {most:,} are {done}",
        hint="clip the polygons to the scene or simplify them first, e.g. with QGIS's Clip or Simplify",
    )


def extent_in(grid: Grid, crs: str) -> tuple[float, float, float, float] | None:
    """``(xmin, ymin, xmax, ymax)`` in ``crs`` that holds the grid's extent: its bounds, two
    pixels wider, transformed (21 points an edge) and then 1 % wider again, for the curve of its
    edges in ``crs``. None where they cannot be transformed, or cross the antimeridian (every
    feature is then read)."""
    import math

    from rasterio._err import CPLE_BaseError  # GDAL's and PROJ's errors (not re-exported)
    from rasterio.errors import RasterioError
    from rasterio.warp import transform_bounds

    left, bottom, right, top = grid.bounds
    px, py = grid.res
    try:
        xmin, ymin, xmax, ymax = transform_bounds(
            grid.rio_crs, crs, left - 2 * px, bottom - 2 * py, right + 2 * px, top + 2 * py, densify_pts=21
        )
    except (RasterioError, CPLE_BaseError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)) or xmin > xmax or ymin > ymax:
        return None
    dx, dy = (xmax - xmin) / 100, (ymax - ymin) / 100
    return (xmin - dx, ymin - dy, xmax + dx, ymax + dy)


def read_vector(
    path: Path,
    field: str,
    *,
    layer: str | int | None = None,
    limits: VectorLimits | None = None,
    within: Grid | None = None,
) -> tuple[list[Any], list[Any], str]:
    """``(geometries, values, crs)`` of a GeoPackage/GeoJSON/Shapefile layer, within
    :class:`~eotrust.limits.VectorLimits`: the features are counted from the layer's
    information before any is read, and the vertices as the geometries are decoded (a batch at
    a time, before they are reprojected and burnt, which costs some 330 bytes a vertex). The
    encoded geometries read first (WKB, 16 bytes a vertex) are no larger than the file's own
    coordinates; their size bounds the vertices decoded (``max_decoded_vertices``) before any
    geometry is built.

    With ``within``, only the features whose bounding box reaches the grid's extent
    (:func:`extent_in`, in the layer's CRS) are read, and only they count towards the bounds:
    GDAL's spatial filter drops the others as it reads (by a GeoPackage's R-tree, or by each
    feature's envelope) before a geometry is handed over, so a national label file over a small
    scene is read in the time of a scan and the memory of what lies in the scene. Each
    geometry that reaches past that extent is cut to it (``shapely.clip_by_rect``) as it is
    decoded, and only the vertices of its cut part count towards ``max_vertices``: one national
    boundary polygon of millions of vertices labels a small scene."""
    import warnings

    import pyogrio
    import shapely

    limits = limits or VECTOR_LIMITS
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"vector file {path} does not exist")
    check_vector_format(path)
    try:
        info = pyogrio.read_info(path, layer=layer)
        declared = int(info.get("features", -1))
        bbox = extent_in(within, str(info["crs"])) if within is not None and info.get("crs") else None
        if bbox is None and declared > limits.max_features:
            raise _too_many(path, declared, "features", limits.max_features)
        # a count the layer does not know (-1), or past the bound where only the features in
        # the scene are read, is bounded by the read itself (which otherwise leaves it out: a
        # feature GDAL cannot read fails a read of at most N features)
        unknown = declared < 0 or declared > limits.max_features
        bound: dict[str, Any] = {"max_features": limits.max_features + 1} if unknown else {}
        if bbox is not None:
            bound["bbox"] = bbox
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "layer does not have any features to read"
            meta, _, geometry, field_data = pyogrio.raw.read(path, layer=layer, columns=[field], force_2d=True, **bound)
    except InvalidInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyogrio raises several unrelated types
        raise InvalidInputError(
            f"cannot read polygons from {path}: {str(exc).splitlines()[0]}",
            hint="give a GeoPackage, GeoJSON or Shapefile with a class field",
        ) from None
    fields = list(meta.get("fields", []))
    if field not in fields:
        try:  # the layer's fields, for the message (only the asked-for one was read)
            fields = [str(f) for f in pyogrio.read_info(path, layer=layer)["fields"]]
        except Exception:  # noqa: BLE001, S110 - the read above worked; the message says less
            pass
        raise InvalidInputError(
            f"{path} has no field {field!r} (fields: {', '.join(fields) or 'none'})",
            hint="name the field that holds each polygon's class",
        )
    crs = meta.get("crs")
    if not crs:
        raise RasterError(
            f"{path} has no CRS, so its polygons cannot be placed on the grid",
            hint="save it with a CRS (GeoJSON defaults to WGS 84 only when it says so)",
        )
    if geometry is not None and len(geometry) > limits.max_features:
        raise _too_many(path, len(geometry), "features", limits.max_features)
    try:
        geoms = _decode_counted(path, geometry, limits, bbox) if geometry is not None else []
    except shapely.errors.GEOSException as exc:  # an unclosed ring, a ring of two points
        raise InvalidInputError(
            f"{path} holds a geometry that is not valid: {str(exc).splitlines()[0]}",
            hint="repair the polygons (e.g. QGIS's Fix Geometries) and try again",
        ) from None
    values = list(field_data[fields.index(field)] if len(field_data) > 1 else field_data[0])
    return geoms, values, str(crs)


def _decode_counted(
    path: Path, wkb: Any, limits: VectorLimits, box: tuple[float, float, float, float] | None
) -> list[Any]:
    """Shapely geometries of ``wkb``: refused before any is built where their WKB holds more
    than ``limits.max_decoded_vertices`` (16 bytes a vertex); then decoded a batch at a time (at
    most :data:`_BATCH` features and :data:`_BATCH_VERTICES` vertices, one feature at least),
    each cut to ``box`` where it reaches past it, and refused as soon as the vertices kept pass
    ``limits.max_vertices``."""
    import shapely

    # a polygon's WKB is 9 bytes of header, then 4 a ring and 16 a vertex: floor((size - 9) / 16)
    # is its vertex count for one ring, an upper bound for more rings or parts
    sizes = np.fromiter((max(len(b) - 9, 0) // 16 if b is not None else 0 for b in wkb), np.int64, len(wkb))
    ends = np.cumsum(sizes)
    decoded = int(ends[-1]) if len(ends) else 0
    if decoded > limits.max_decoded_vertices:
        raise _too_many(path, decoded, "vertices", limits.max_decoded_vertices, "decoded")
    geoms: list[Any] = []
    kept = 0
    start = 0
    while start < len(wkb):
        before = int(ends[start - 1]) if start else 0
        fit = int(np.searchsorted(ends, before + _BATCH_VERTICES, side="right"))
        stop = max(start + 1, min(start + _BATCH, fit))
        batch = shapely.from_wkb(wkb[start:stop])
        if box is not None:
            batch = _cut(batch, box)
        kept += int(shapely.get_num_coordinates(batch).sum())
        if kept > limits.max_vertices:
            raise _too_many(path, kept, "vertices in the scene" if box else "vertices", limits.max_vertices)
        geoms.extend(batch)
        start = stop
    return geoms


def _cut(batch: Any, box: tuple[float, float, float, float]) -> Any:
    """``batch`` with each geometry that reaches past ``box`` cut to it (those inside it, and
    missing or empty ones, are left as they are: an ordinary file burns as it did)."""
    import shapely

    with np.errstate(invalid="ignore"):  # the bounds of a missing or empty geometry are NaN
        bounds = shapely.bounds(batch)
        inside = (
            (bounds[:, 0] >= box[0]) & (bounds[:, 1] >= box[1]) & (bounds[:, 2] <= box[2]) & (bounds[:, 3] <= box[3])
        )
    past = ~inside & ~shapely.is_missing(batch) & ~shapely.is_empty(batch)
    if past.any():
        batch[past] = shapely.clip_by_rect(batch[past], *box)
    return batch


def rasterize_labels(
    vector: Path,
    grid: Grid,
    dest: Path,
    *,
    field: str,
    classes: ClassList,
    layer: str | int | None = None,
    all_touched: bool = False,
    block: int = 1024,
    limits: VectorLimits | None = None,
) -> dict[int, int]:
    """Burn the polygons of ``vector`` (any CRS: reprojected to the grid's) into a ``uint16``
    label raster on ``grid``, window by window. The class field holds codes or class names;
    any value not in ``classes`` is refused, naming it. Later polygons win where they overlap.
    Only the features whose bounding box reaches the grid's extent are read (a national label
    file over a small scene works); those past ``limits`` (features, vertices) are refused before
    their polygons are built whole. Returns the pixel count of each code."""
    import shapely
    from rasterio.warp import transform_geom

    # only the features that reach the grid's extent are read, and count towards ``limits``
    geoms, values, crs = read_vector(vector, field, layer=layer, limits=limits, within=grid)
    # a feature without a geometry (null in GeoJSON, or one GDAL could not read) burns nothing
    kept = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    geoms, values = [geoms[i] for i in kept], [values[i] for i in kept]
    codes: list[int] = []
    unknown: set[str] = set()
    for v in values:
        if v is None:
            codes.append(NODATA_CODE)
            continue
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            unknown.add(str(v)[:40])  # true is no class 1, 2.7 no class 2, inf and NaN no class at all
            continue
        try:
            code = int(v)
        except (TypeError, ValueError):
            try:
                code = classes.code_of(str(v))
            except InvalidInputError:
                unknown.add(str(v)[:40])
                continue
        else:
            if code != NODATA_CODE and code not in classes.codes:
                unknown.add(str(v))
                continue
        codes.append(code)
    if unknown:
        raise InvalidInputError(
            f"{vector} has class value(s) {sorted(unknown)} in field {field!r} that are not in the class list "
            f"({', '.join(f'{c.code} {c.name}' for c in classes.classes)})",
            hint="add them to the class list or fix the polygons",
        )
    if crs != grid.crs and geoms:
        from rasterio._err import CPLE_BaseError  # GDAL's and PROJ's errors (not re-exported)
        from rasterio.errors import RasterioError

        try:
            geoms = [
                shapely.geometry.shape(g)
                for g in transform_geom(crs, grid.rio_crs, [shapely.geometry.mapping(g) for g in geoms])
            ]
        except (RasterioError, CPLE_BaseError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot put the polygons of {vector} on the grid ({grid.crs}): {str(exc).splitlines()[0]}",
                hint=f"check their coordinates against their CRS ({crs})",
            ) from None
    tree = shapely.STRtree(geoms)
    counts: dict[int, int] = {}
    profile = geotiff_profile(grid, count=1, dtype="uint16", nodata=NODATA_CODE)
    with atomic_path(dest) as tmp, rasterio.open(tmp, "w", **profile) as out:
        out.update_tags(classes=classes.to_tag(), source=str(Path(vector).name), field=field)
        px, py = abs(grid.affine.a), abs(grid.affine.e)
        for win in windows(grid, block):
            left, bottom, right, top = rasterio.windows.bounds(win, grid.affine)
            box = shapely.box(left, bottom, right, top)
            hits = sorted(tree.query(box, predicate="intersects").tolist())
            arr = np.zeros((int(win.height), int(win.width)), dtype=np.uint16)
            if hits:
                # each polygon cut to the window and a pixel around it (the same pixels burn):
                # whole, a polygon of many vertices was converted and scanned once per window
                margin = (left - px, bottom - py, right + px, top + py)
                arr = rasterize(
                    ((shapely.clip_by_rect(geoms[i], *margin), codes[i]) for i in hits),
                    out_shape=arr.shape,
                    transform=grid.window_transform(win),
                    fill=NODATA_CODE,
                    all_touched=all_touched,
                    dtype="uint16",
                )
            add_counts(counts, arr)
            out.write(arr, 1, window=win)
    return counts


# -- synthetic labels from spectral indices -------------------------------------------

INDEX_BANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # index: ((band a aliases), (band b aliases)) for (a - b) / (a + b)
    "ndvi": (("nir", "B08", "B8"), ("red", "B04", "B4")),
    "ndwi": (("green", "B03", "B3"), ("nir", "B08", "B8")),
    "ndbi": (("swir1", "B11"), ("nir", "B08", "B8")),
}


def spectral_index(name: str, x: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """An index over ``x`` (T, B, h, w) → (T, h, w): the band of that name when the cube
    has one (e.g. ``ndvi``), else the normalised difference of its two bands."""
    lower = [b.lower() for b in bands]
    if name.lower() in lower:
        return x[:, lower.index(name.lower())]
    if name.lower() not in INDEX_BANDS:
        raise InvalidInputError(
            f"unknown spectral index {name!r}", hint=f"use one of {', '.join(INDEX_BANDS)} or a band name"
        )

    def find(aliases: tuple[str, ...]) -> int:
        for a in aliases:
            if a.lower() in lower:
                return lower.index(a.lower())
        raise InvalidInputError(
            f"index {name} needs a band named one of {', '.join(aliases)}; the cube has {', '.join(bands)}"
        )

    a_i, b_i = (find(al) for al in INDEX_BANDS[name.lower()])
    a, b = x[:, a_i], x[:, b_i]
    with np.errstate(all="ignore"):
        ratio: np.ndarray = (a - b) / (a + b)
        return ratio


class IndexRule(BaseModel):
    """Pixels whose statistic over time of a spectral index lies in ``[min, max)`` get ``code``."""

    model_config = ConfigDict(extra="forbid")

    code: int = Field(ge=1, le=65534)
    name: str
    index: str = "ndvi"
    stat: Literal["median", "mean", "min", "max", "std", "amplitude"] = "median"
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> IndexRule:
        if self.min is None and self.max is None:
            raise ValueError(f"rule for {self.name!r} needs min or max")
        return self


#: Crude defaults for a cloud-free NDVI time series (first matching rule wins): open water
#: stays below 0; built-up land stays low; grassland swings widely over the seasons (mowing,
#: winter), forest keeps a high, steadier NDVI. Thresholds read off the Slovenian sample.
DEFAULT_RULES: tuple[IndexRule, ...] = (
    IndexRule(code=5, name="water", stat="median", max=0.0),
    IndexRule(code=8, name="artificial surface", stat="median", min=0.0, max=0.5),
    IndexRule(code=3, name="grassland", stat="amplitude", min=0.68),
    IndexRule(code=2, name="forest", stat="amplitude", max=0.68),
)


def _stat(values: np.ndarray, stat: str) -> np.ndarray:
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if stat == "amplitude":
            spread: np.ndarray = np.nanmax(values, axis=0) - np.nanmin(values, axis=0)
            return spread
        funcs: dict[str, Any] = {
            "median": np.nanmedian,
            "mean": np.nanmean,
            "min": np.nanmin,
            "max": np.nanmax,
            "std": np.nanstd,
        }
        reduced: np.ndarray = funcs[stat](values, axis=0)
        return reduced


def synthetic_labels(
    cube: Cube, dest: Path, rules: Sequence[IndexRule] = DEFAULT_RULES, *, block: int | None = None
) -> dict[int, int]:
    """Label every pixel by the first rule it meets (0 where none does, or no observation):
    ground truth generated from the data itself when no reference exists. Window by window."""
    if not rules:
        raise InvalidInputError("no labelling rules given")
    classes = ClassList.of((r.code, r.name) for r in rules)
    counts: dict[int, int] = {}
    profile = geotiff_profile(cube.grid, count=1, dtype="uint16", nodata=NODATA_CODE)
    with atomic_path(dest) as tmp, rasterio.open(tmp, "w", **profile) as out:
        out.update_tags(
            classes=classes.to_tag(),
            source="synthetic: spectral-index rules",
            rules=";".join(r.model_dump_json() for r in rules),
        )
        for win, x in iter_windows(cube, block):
            label = np.zeros(x.shape[2:], dtype=np.uint16)
            done = np.zeros(x.shape[2:], dtype=bool)
            cache: dict[tuple[str, str], np.ndarray] = {}
            for r in rules:
                key = (r.index, r.stat)
                if key not in cache:
                    cache[key] = _stat(spectral_index(r.index, x, cube.bands), r.stat)
                v = cache[key]
                hit = ~done & ~np.isnan(v)
                if r.min is not None:
                    hit &= v >= r.min
                if r.max is not None:
                    hit &= v < r.max
                label[hit] = r.code
                done |= hit
            add_counts(counts, label)
            out.write(label, 1, window=Window(win.col_off, win.row_off, win.width, win.height))
    return counts


def check_source_codes(src: Path, classes: ClassList | None) -> None:
    """Refuse a label raster to be put on a grid unless it holds integers, and each of its
    codes is its nodata, 0, or a class of ``classes`` (without a class list: a code of
    1..65534, what a ``uint16`` label raster can carry). Read window by window, before anything
    is written: a float 2.7 became class 2, -3 became 65533, and an unlisted code a class."""
    nodata = check_code_dtype(src)
    counts = code_counts(src)
    allowed = set(classes.codes) if classes is not None else None
    bad = sorted(
        c
        for c in counts
        if c != NODATA_CODE
        and (nodata is None or c != nodata)
        and (not 0 < c <= 65534 or (allowed is not None and c not in allowed))
    )
    if bad:
        shown = ", ".join(str(c) for c in bad[:20]) + (f" and {len(bad) - 20} more" if len(bad) > 20 else "")
        listed = (
            f"the class list ({', '.join(f'{c.code} {c.name}' for c in classes.classes)})"
            if classes is not None
            else "1..65534"
        )
        raise InvalidInputError(
            f"{src} holds class code(s) {shown} that are not in {listed}",
            hint="add them to the class list (--classes or the raster's classes tag), or map them to 0 (no data)",
        )


def align_labels(
    src: Path, grid: Grid, dest: Path, *, block: int | None = None, classes: ClassList | None = None
) -> dict[int, int]:
    """A label raster on ``grid``: copied when it is already there, else reprojected with
    nearest-neighbour resampling (classes stay classes), window by window. Its pixels must be
    integer codes of ``classes`` (default: its own ``classes`` tag), 0 or its nodata
    (:func:`check_source_codes`). The class list travels with it; areas it does not cover
    become 0 (no data)."""
    from eotrust.eo.cube import Source, stack

    src = Path(src)
    with open_raster(src) as ds:
        tags = {k: v for k, v in ds.tags().items() if k in ("classes", "source")}
    if classes is not None:
        tags["classes"] = classes.to_tag()
    declared = classes if classes is not None else (ClassList.parse(tags["classes"]) if "classes" in tags else None)
    check_source_codes(src, declared)
    cube = stack([Source(src, band="labels", resampling="nearest")], grid=grid)
    counts: dict[int, int] = {}
    with (
        atomic_path(dest) as tmp,
        rasterio.open(tmp, "w", **geotiff_profile(grid, count=1, dtype="uint16", nodata=NODATA_CODE)) as out,
    ):
        out.update_tags(**tags)
        for win, x in iter_windows(cube, block):
            arr = np.nan_to_num(x[0, 0], nan=NODATA_CODE).astype(np.uint16)
            add_counts(counts, arr)
            out.write(arr, 1, window=win)
    return counts
