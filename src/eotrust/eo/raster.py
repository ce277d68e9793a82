"""Rasters: a GeoTIFF/COG opened with its grid (CRS, transform, size), nodata, band
descriptions and acquisition dates, and every rasterio failure turned into one clear
:class:`~eotrust.errors.RasterError`.

Dates are found, in order, in the band descriptions (ISO 8601, one per band: how the
shared Sentinel-2 rasters carry them), in per-band ``date`` tags, or in a ``dates`` dataset
tag (comma-separated, one per band). Cube GeoTIFFs written by :mod:`eotrust.eo.cube` describe
each band as ``BAND@DATE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.windows import Window

from eotrust.errors import NotFoundError, RasterError
from eotrust.limits import check_raster_layout, file_problem
from eotrust.store.atomic import atomic_path as atomic_path  # re-exported: eo and ml writers use it

#: GDAL options for every GeoTIFF eotrust writes: tiled, DEFLATE, BigTIFF when needed.
GTIFF_OPTIONS: dict[str, Any] = {"driver": "GTiff", "compress": "deflate", "zlevel": 6, "bigtiff": "if_safer"}


@dataclass(frozen=True)
class Grid:
    """Where pixels are: CRS, affine transform and size. Two rasters on equal grids align
    pixel for pixel."""

    crs: str
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int

    @classmethod
    def of(cls, crs: CRS | str, transform: Affine, width: int, height: int) -> Grid:
        text = crs.to_string() if isinstance(crs, CRS) else str(crs)
        return cls(text, tuple(float(v) for v in transform[:6]), int(width), int(height))  # type: ignore[arg-type]

    @classmethod
    def from_dataset(cls, ds: Any) -> Grid:
        if ds.crs is None:
            raise RasterError(
                f"{ds.name} has no CRS", hint="assign one first, e.g. gdal_edit.py -a_srs EPSG:32633 FILE"
            )
        return cls.of(ds.crs, ds.transform, ds.width, ds.height)

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform)

    @property
    def rio_crs(self) -> CRS:
        return CRS.from_user_input(self.crs)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def res(self) -> tuple[float, float]:
        return (abs(self.transform[0]), abs(self.transform[4]))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        return _bounds(self)

    def window_transform(self, window: Window) -> Affine:
        transform: Affine = rasterio.windows.transform(window, self.affine)
        return transform

    def full_window(self) -> Window:
        return Window(0, 0, self.width, self.height)

    def matches(self, other: Grid, *, tolerance: float = 1e-6) -> bool:
        """Same CRS, size and transform (within ``tolerance`` of a pixel)."""
        if (self.width, self.height) != (other.width, other.height):
            return False
        if self.rio_crs != other.rio_crs:
            return False
        res = max(self.res) or 1.0
        return all(abs(a - b) <= tolerance * res for a, b in zip(self.transform, other.transform))

    def describe(self) -> str:
        return f"{self.width}x{self.height} px in {self.crs} at {self.res[0]:g} m, origin ({self.transform[2]:.2f}, {self.transform[5]:.2f})"

    def to_dict(self) -> dict[str, Any]:
        return {"crs": self.crs, "transform": list(self.transform), "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grid:
        transform = tuple(float(v) for v in data["transform"])
        return cls(str(data["crs"]), transform, int(data["width"]), int(data["height"]))  # type: ignore[arg-type]


def _bounds(grid: Grid) -> tuple[float, float, float, float]:
    west, south, east, north = rasterio.transform.array_bounds(grid.height, grid.width, grid.affine)
    return (west, south, east, north)


@dataclass(frozen=True)
class RasterInfo:
    """What `eotrust eo info` shows about one raster."""

    path: str
    grid: Grid
    count: int
    dtype: str
    nodata: float | None
    descriptions: tuple[str | None, ...]
    dates: tuple[str, ...] | None
    band_names: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    block_shape: tuple[int, int] = (0, 0)
    compress: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "grid": self.grid.to_dict(),
            "bounds": list(self.grid.bounds),
            "count": self.count,
            "dtype": self.dtype,
            "nodata": self.nodata,
            "descriptions": list(self.descriptions),
            "dates": list(self.dates) if self.dates else None,
            "band_names": list(self.band_names),
            "tags": self.tags,
            "block_shape": list(self.block_shape),
            "compress": self.compress,
        }


def parse_date(text: str) -> datetime:
    """An ISO 8601 date or date-time (``2016-05-06`` or ``2016-05-06T10:05:27``)."""
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        raise RasterError(
            f"{text!r} is not an ISO 8601 date", hint="write dates as YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS"
        ) from None


def is_date(text: str | None) -> bool:
    if not text:
        return False
    try:
        parse_date(text)
    except RasterError:
        return False
    return True


def days_of(dates: tuple[str, ...] | list[str]) -> np.ndarray:
    """Days since the first date, as float64 (for interpolation in time)."""
    if not dates:
        return np.zeros(0)
    t = [parse_date(d) for d in dates]
    return np.array([(d - t[0]).total_seconds() / 86400.0 for d in t])


def _split_band_date(text: str | None) -> tuple[str, str] | None:
    if text and "@" in text:
        band, _, date = text.rpartition("@")
        if band and is_date(date):
            return band, date
    return None


def dates_of(ds: Any) -> tuple[str, ...] | None:
    """One date per band, or None when the raster does not say."""
    desc = ds.descriptions
    if desc and all(is_date(d) for d in desc):
        return tuple(str(d) for d in desc)
    if desc and all(_split_band_date(d) for d in desc):
        return tuple(_split_band_date(d)[1] for d in desc)  # type: ignore[index]
    per_band = [ds.tags(i + 1).get("date") for i in range(ds.count)]
    if all(is_date(d) for d in per_band):
        return tuple(str(d) for d in per_band)
    tag = ds.tags().get("dates")
    if tag:
        dates = tuple(d.strip() for d in tag.split(",") if d.strip())
        if len(dates) != ds.count:
            raise RasterError(
                f"{ds.name} has {ds.count} bands but its 'dates' tag lists {len(dates)} dates",
                hint="give one date per band",
            )
        for d in dates:
            parse_date(d)
        return dates
    single = ds.tags().get("date")
    if single and is_date(single) and ds.count >= 1:
        return tuple([single] * ds.count) if ds.count == 1 else None
    return None


def band_names_of(ds: Any, path: Path) -> tuple[str, ...]:
    """A name per band: ``BAND`` of ``BAND@DATE`` descriptions, the description when it is
    not a date, else the file's stem (and ``_bN`` for multi-band rasters without dates)."""
    desc = ds.descriptions
    if desc and all(_split_band_date(d) for d in desc):
        return tuple(_split_band_date(d)[0] for d in desc)  # type: ignore[index]
    if dates_of(ds) is not None:
        return tuple([path.stem] * ds.count)
    if ds.count == 1:
        return (desc[0] if desc and desc[0] else path.stem,)
    return tuple(d if d else f"{path.stem}_b{i + 1}" for i, d in enumerate(desc))


def check_raster_file(path: Path) -> None:
    """RasterError unless ``path`` is a regular file: GDAL opening a pipe waits for a writer
    that never comes, and reads a device without end."""
    if problem := file_problem(path):
        raise RasterError(f"raster {path} {problem}", hint="give a GeoTIFF file")


@contextmanager
def open_raster(path: Path | str, *, require_crs: bool = True) -> Iterator[Any]:
    """Open a raster for reading; a missing, corrupt or CRS-less file is a clear RasterError."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"raster {path} does not exist", hint="check the path")
    check_raster_file(path)
    try:
        # a GeoTIFF only: GDAL would otherwise pick a driver by content, and a "raster" another
        # party hands over (a VRT, a WMS description) names files of this machine, or URLs it
        # would fetch, and reads them into the pixels
        ds = rasterio.open(path, driver="GTiff")
    except RasterioError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RasterError(
            f"{path} is not a readable raster ({first})",
            hint="the GeoTIFF may be truncated or corrupt: export or download it again",
        ) from None
    try:
        if require_crs and ds.crs is None:
            raise RasterError(
                f"{path} has no CRS, so it cannot be placed on a map",
                hint="assign one first, e.g. gdal_edit.py -a_srs EPSG:32633 FILE",
            )
        check_layout(ds, path)
        with rasterio.Env(GDAL_CACHEMAX=block_cache_bytes(ds)):
            yield ds
    finally:
        ds.close()


#: the bound of :func:`open_raster`, in the bottom layer so that ``catalog`` and the API use it too
check_layout = check_raster_layout


def block_cache_bytes(ds: Any, window_rows: int = 0, most: int = 512 << 20) -> int:
    """GDAL's block cache for reading ``ds`` in strips of windows, left to right: every row of
    blocks one strip touches (a strip of whole block rows by default; windows ``window_rows``
    high at any offset: as many rows of blocks as such a window can touch) and one more, since
    the next strip shares its first row of blocks with this one's last. A cache that holds a
    whole strip decodes each block once; two rows for tiles of 512 on blocks of 256 re-decoded a
    third of them (31 against 22 ms per 13-band tile of ``benchmarks/scoring.py``'s scene).
    Within 32 MiB..``most`` — instead of GDAL's default of 5 % of the machine's memory, so
    memory stays bounded."""
    rows = max(ds.block_shapes[0][0] if ds.block_shapes else 256, 1)
    spanned = -(-(window_rows - 1) // rows) + 1 if window_rows > 0 else 1
    need = (spanned + 1) * ds.count * max(rows, 256) * ds.width * np.dtype(ds.dtypes[0]).itemsize
    return int(min(max(need, 32 << 20), most))


def read(ds: Any, indexes: list[int] | int | None = None, window: Window | None = None, **kwargs: Any) -> np.ndarray:
    """``ds.read`` with a corrupt block reported as a RasterError naming the file."""
    try:
        data: np.ndarray = ds.read(indexes, window=window, **kwargs)
        return data
    except RasterioError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RasterError(
            f"cannot read {ds.name} ({first})",
            hint="the GeoTIFF may be truncated or corrupt: export or download it again",
        ) from None


def raster_info(path: Path | str) -> RasterInfo:
    """Everything known about a raster without reading its pixels."""
    path = Path(path)
    with open_raster(path, require_crs=False) as ds:
        if ds.crs is None:
            grid = Grid("", tuple(float(v) for v in ds.transform[:6]), ds.width, ds.height)  # type: ignore[arg-type]
        else:
            grid = Grid.from_dataset(ds)
        return RasterInfo(
            path=str(path),
            grid=grid,
            count=ds.count,
            dtype=ds.dtypes[0],
            nodata=ds.nodata,
            descriptions=tuple(ds.descriptions),
            dates=dates_of(ds),
            band_names=band_names_of(ds, path),
            tags=dict(ds.tags()),
            block_shape=tuple(ds.block_shapes[0]) if ds.block_shapes else (0, 0),
            compress=(ds.profile.get("compress") or None),
        )


def block_size_for(grid: Grid, bytes_per_pixel: int, *, budget_bytes: int = 256 * 2**20, multiple: int = 16) -> int:
    """The side of square windows whose pixels fit ``budget_bytes``: what keeps any
    window-by-window pass bounded in memory whatever the scene size."""
    side = int((budget_bytes / max(bytes_per_pixel, 1)) ** 0.5)
    side = max(multiple, (side // multiple) * multiple)
    return min(side, max(grid.width, grid.height, multiple))


def windows(grid: Grid, size: int) -> Iterator[Window]:
    """Non-overlapping windows of at most ``size`` x ``size`` covering the grid, row by row."""
    for row in range(0, grid.height, size):
        for col in range(0, grid.width, size):
            yield Window(col, row, min(size, grid.width - col), min(size, grid.height - row))


def geotiff_profile(grid: Grid, *, count: int, dtype: str, nodata: float | None, block: int = 256) -> dict[str, Any]:
    """A profile for writing a tiled, compressed GeoTIFF on ``grid``."""
    profile: dict[str, Any] = {
        **GTIFF_OPTIONS,
        "crs": grid.rio_crs,
        "transform": grid.affine,
        "width": grid.width,
        "height": grid.height,
        "count": count,
        "dtype": dtype,
        "nodata": nodata,
    }
    if np.dtype(dtype).kind == "f":
        profile["predictor"] = 3
    elif np.dtype(dtype).itemsize > 1:
        profile["predictor"] = 2
    if grid.width >= block and grid.height >= block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    if count > 1:
        profile["interleave"] = "pixel"  # one block holds every band of its pixels: windows read once
    return profile


def add_counts(counts: dict[int, int], values: np.ndarray) -> dict[int, int]:
    """Add how many times each value occurs in ``values`` to ``counts`` (class codes: a NaN or
    an infinity is no code, and is refused in one line)."""
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise RasterError("a label raster holds NaN or infinite values; class codes are whole numbers")
    vals, n = np.unique(values, return_counts=True)
    for v, k in zip(vals.tolist(), n.tolist()):
        counts[int(v)] = counts.get(int(v), 0) + int(k)
    return counts


def add_pair_counts(counts: dict[tuple[int, int], int], a: np.ndarray, b: np.ndarray) -> dict[tuple[int, int], int]:
    """Add how many times each pair ``(a[i], b[i])`` occurs to ``counts`` (confusions, transitions)."""
    if a.size:
        pairs, n = np.unique(np.stack([a.ravel(), b.ravel()]).astype(np.int64), axis=1, return_counts=True)
        for (x, y), k in zip(pairs.T.tolist(), n.tolist()):
            counts[(x, y)] = counts.get((x, y), 0) + k
    return counts
