"""Time-series cubes: several rasters (dates, sensors, bands — optical and SAR alike) stacked
into one ``(date, band, row, col)`` cube on a common grid.

A :class:`Cube` is a description, not an array: for every (date, band) it names the raster
band that holds it. Pixels are read window by window through a :class:`CubeReader`, which
reprojects and resamples sources on another grid with ``rasterio.warp`` (a ``WarpedVRT``),
so memory stays bounded whatever the scene size. A cube is written as one GeoTIFF whose bands
are described ``BAND@DATE`` (date-major order); :func:`open_cube` reads it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from eotrust.eo.raster import (
    Grid,
    block_size_for,
    geotiff_profile,
    is_date,
    open_raster,
    parse_date,
    raster_info,
    read,
    windows,
)
from eotrust.errors import RasterError
from eotrust.store.atomic import place, temp_name

CUBE_FORMAT = "eotrust-cube/1"
UNDATED = "undated"


@dataclass(frozen=True)
class Source:
    """One raster to stack. ``band`` names the variable it holds when each of its bands is a
    date (default: the file's stem); ``dates`` overrides the dates it carries;
    ``resampling`` is used when its grid differs from the cube's (``nearest`` for masks)."""

    path: Path
    band: str | None = None
    dates: tuple[str, ...] | None = None
    resampling: str = "bilinear"


@dataclass(frozen=True)
class LayerRef:
    """Band ``index`` (1-based) of raster ``path``."""

    path: str
    index: int
    nodata: float | None = None
    resampling: str = "bilinear"


@dataclass(frozen=True)
class Cube:
    """A time-series cube: ``layers[t][b]`` holds date ``dates[t]`` of band ``bands[b]``
    (``None``: missing, read as NaN)."""

    grid: Grid
    dates: tuple[str, ...]
    bands: tuple[str, ...]
    layers: tuple[tuple[LayerRef | None, ...], ...]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.dates), len(self.bands), self.grid.height, self.grid.width)

    def reader(self) -> CubeReader:
        return CubeReader(self)

    def band_index(self, band: str) -> int:
        if band not in self.bands:
            raise RasterError(f"the cube has no band {band!r} (it has {', '.join(self.bands)})")
        return self.bands.index(band)

    def select(self, *, bands: Sequence[str] | None = None, dates: Sequence[int] | None = None) -> Cube:
        """A sub-cube: some bands, some date indices (a temporal window)."""
        b_idx = [self.band_index(b) for b in bands] if bands is not None else list(range(len(self.bands)))
        t_idx = list(dates) if dates is not None else list(range(len(self.dates)))
        if not t_idx or not b_idx:
            raise RasterError("a sub-cube needs at least one date and one band")
        return replace(
            self,
            dates=tuple(self.dates[t] for t in t_idx),
            bands=tuple(self.bands[b] for b in b_idx),
            layers=tuple(tuple(self.layers[t][b] for b in b_idx) for t in t_idx),
        )

    def without(self, band: str) -> Cube:
        return self.select(bands=[b for b in self.bands if b != band])

    def sources(self) -> list[str]:
        return sorted({ref.path for row in self.layers for ref in row if ref is not None})

    def to_dict(self) -> dict[str, Any]:
        return {
            "grid": self.grid.to_dict(),
            "dates": list(self.dates),
            "bands": list(self.bands),
            "shape": list(self.shape),
            "sources": self.sources(),
        }


class CubeReader:
    """Reads windows of a cube as float32 ``(T, B, h, w)`` arrays with NaN for nodata,
    missing layers and pixels outside the grid. Use as a context manager."""

    def __init__(self, cube: Cube) -> None:
        self.cube = cube
        self._open: dict[str, Any] = {}
        self._closers: list[Any] = []
        self._plan: dict[str, list[tuple[int, int, LayerRef]]] = {}
        for t, row in enumerate(cube.layers):
            for b, ref in enumerate(row):
                if ref is not None:
                    self._plan.setdefault(ref.path, []).append((t, b, ref))

    def __enter__(self) -> CubeReader:
        grid = self.cube.grid
        try:
            for path, entries in self._plan.items():
                cm = open_raster(path)
                ds = cm.__enter__()
                self._closers.append(cm)
                if not Grid.from_dataset(ds).matches(grid):
                    nodata = ds.nodata
                    if nodata is None and np.dtype(ds.dtypes[0]).kind == "f":
                        nodata = float("nan")
                    vrt = WarpedVRT(
                        ds,
                        crs=grid.rio_crs,
                        transform=grid.affine,
                        width=grid.width,
                        height=grid.height,
                        resampling=Resampling[entries[0][2].resampling],
                        nodata=nodata,
                    )
                    self._closers.append(vrt)
                    ds = vrt
                self._open[path] = ds
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for c in reversed(self._closers):
            try:
                if hasattr(c, "__exit__"):
                    c.__exit__(None, None, None)
                else:
                    c.close()
            except Exception:  # noqa: BLE001 - closing must not mask the real error
                pass
        self._closers.clear()
        self._open.clear()

    def read(self, window: Window) -> np.ndarray:
        """The window's pixels; parts of the window beyond the grid are NaN."""
        cube = self.cube
        col, row = int(window.col_off), int(window.row_off)
        w, h = int(window.width), int(window.height)
        out = np.full((len(cube.dates), len(cube.bands), h, w), np.nan, dtype=np.float32)
        c0, r0 = max(col, 0), max(row, 0)
        c1, r1 = min(col + w, cube.grid.width), min(row + h, cube.grid.height)
        if c1 <= c0 or r1 <= r0:
            return out
        inner = Window(c0, r0, c1 - c0, r1 - r0)
        ys, xs = slice(r0 - row, r1 - row), slice(c0 - col, c1 - col)
        for path, entries in self._plan.items():
            ds = self._open[path]
            indexes = sorted({ref.index for _, _, ref in entries})
            data = read(ds, indexes, window=inner)
            pos = {i: k for k, i in enumerate(indexes)}
            for t, b, ref in entries:
                band = data[pos[ref.index]].astype(np.float32, copy=True)
                if ref.nodata is not None and not np.isnan(ref.nodata):
                    band[band == ref.nodata] = np.nan
                out[t, b, ys, xs] = band
        return out


def _as_source(item: Path | str | Source) -> Source:
    return item if isinstance(item, Source) else Source(Path(item))


def _check_alignable(path: Path, grid_of_src: Grid, grid: Grid) -> None:
    if grid_of_src.matches(grid):
        return
    try:
        left, bottom, right, top = transform_bounds(
            grid_of_src.rio_crs, grid.rio_crs, *grid_of_src.bounds, densify_pts=21
        )
    except (RasterioError, ValueError) as exc:
        raise RasterError(
            f"{path} ({grid_of_src.crs}) cannot be reprojected to the cube's CRS {grid.crs}: {exc}",
            hint="stack rasters whose CRSs can be transformed into each other",
        ) from None
    gl, gb, gr, gt = grid.bounds
    finite = all(np.isfinite(v) for v in (left, bottom, right, top))
    if not finite or left >= gr or right <= gl or bottom >= gt or top <= gb:
        raise RasterError(
            f"{path} ({grid_of_src.crs}, bounds {tuple(round(v, 2) for v in grid_of_src.bounds)}) does not overlap the "
            f"cube's grid ({grid.crs}, bounds {tuple(round(v, 2) for v in grid.bounds)}): they cannot be aligned",
            hint="stack rasters that cover the same area, or pass a grid that covers them",
        )


def stack(
    sources: Sequence[Path | str | Source],
    *,
    grid: Grid | None = None,
    dates: Sequence[str] | None = None,
    allow_missing: bool = False,
) -> Cube:
    """Stack rasters into one cube on ``grid`` (default: the first raster's grid).

    A raster whose bands are dates contributes one band (named by ``Source.band`` or its
    file stem) at each of its dates; a cube GeoTIFF contributes its ``BAND@DATE`` layers; an
    undated raster contributes static bands repeated at every date (elevation, say). The cube's
    dates are ``dates`` or the union of all rasters' dates in time order. A band without a
    layer at one of the cube's dates is refused unless ``allow_missing`` (then it reads NaN,
    for interpolation or compositing to fill). Rasters on other grids are reprojected when
    read; one without a CRS, or one that does not overlap the grid, is refused here."""
    items = [_as_source(s) for s in sources]
    if not items:
        raise RasterError("nothing to stack", hint="give at least one raster")
    dynamic: dict[tuple[str, str], LayerRef] = {}
    static: dict[str, LayerRef] = {}
    order: list[str] = []
    for src in items:
        info = raster_info(src.path)
        if not info.grid.crs:
            raise RasterError(
                f"{src.path} has no CRS, so it cannot be aligned with the other rasters",
                hint="assign one first, e.g. gdal_edit.py -a_srs EPSG:32633 FILE",
            )
        if grid is None:
            grid = info.grid
        _check_alignable(src.path, info.grid, grid)
        src_dates = src.dates or info.dates
        if src.dates is not None and len(src.dates) != info.count:
            raise RasterError(f"{src.path} has {info.count} bands but {len(src.dates)} dates were given for it")
        for i in range(info.count):
            name = src.band or info.band_names[i]
            ref = LayerRef(str(src.path), i + 1, info.nodata, src.resampling)
            if name not in order:
                order.append(name)
            if src_dates is None:
                if name in static:
                    raise RasterError(
                        f"band {name!r} is given twice ({static[name].path} and {src.path})",
                        hint="name the bands apart with Source(band=...)",
                    )
                static[name] = ref
                continue
            key = (src_dates[i], name)
            if key in dynamic:
                raise RasterError(
                    f"band {name!r} at {src_dates[i]} is given twice ({dynamic[key].path} and {src.path})"
                )
            dynamic[key] = ref
    assert grid is not None
    clash = set(static) & {b for _, b in dynamic}
    if clash:
        raise RasterError(f"band(s) {sorted(clash)} are both dated and static", hint="name them apart")
    all_dates = sorted({d for d, _ in dynamic}, key=parse_date)
    if dates is not None:
        cube_dates = tuple(str(d) for d in dates)
        for d in cube_dates:
            parse_date(d)
    else:
        cube_dates = tuple(all_dates) if all_dates else (UNDATED,)
    dyn_bands = [b for b in order if b not in static]
    missing: dict[str, list[str]] = {}
    for b in dyn_bands:
        gaps = [d for d in cube_dates if (d, b) not in dynamic]
        if gaps:
            missing[b] = gaps
    if missing and not allow_missing:
        b, gaps = next(iter(missing.items()))
        shown = ", ".join(gaps[:3]) + (f" and {len(gaps) - 3} more" if len(gaps) > 3 else "")
        raise RasterError(
            f"band {b!r} has no layer at {len(gaps)} of the cube's {len(cube_dates)} dates ({shown})",
            hint="stack rasters with the same dates, choose dates they share, or allow missing dates to fill them by interpolation",
        )
    layers = tuple(tuple(static[b] if b in static else dynamic.get((d, b)) for b in order) for d in cube_dates)
    return Cube(grid=grid, dates=cube_dates, bands=tuple(order), layers=layers)


def open_cube(path: Path | str, *, band: str | None = None) -> Cube:
    """A cube from one GeoTIFF: a cube written by :func:`write_cube` (``BAND@DATE``) or any
    raster (a time series of one band, or static bands)."""
    return stack([Source(Path(path), band=band)])


class CubeWriter:
    """Writes a cube GeoTIFF window by window; the file appears under its name only when
    every window was written (``close(ok=True)``), never half-written."""

    def __init__(
        self,
        dest: Path,
        grid: Grid,
        dates: Sequence[str],
        bands: Sequence[str],
        *,
        tags: dict[str, str] | None = None,
        block: int = 256,
    ) -> None:
        self.dest = Path(dest)
        self.dates, self.bands = tuple(dates), tuple(bands)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_name(self.dest)
        profile = geotiff_profile(
            grid, count=len(self.dates) * len(self.bands), dtype="float32", nodata=float("nan"), block=block
        )
        self.ds = rasterio.open(self.tmp, "w", **profile)
        for t, d in enumerate(self.dates):
            for b, name in enumerate(self.bands):
                self.ds.set_band_description(t * len(self.bands) + b + 1, f"{name}@{d}")
        self.ds.update_tags(format=CUBE_FORMAT, dates=",".join(self.dates), bands=",".join(self.bands), **(tags or {}))

    def write(self, window: Window, x: np.ndarray) -> None:
        t, b, h, w = x.shape
        self.ds.write(x.reshape(t * b, h, w).astype(np.float32, copy=False), window=window)

    def close(self, *, ok: bool) -> None:
        try:
            self.ds.close()
            if ok:
                place(self.tmp, self.dest)
        finally:  # gone after the rename; removed if closing or renaming failed
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> CubeWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(ok=exc_type is None)


Transform = Callable[[np.ndarray], np.ndarray]


def write_cube(
    cube: Cube,
    dest: Path,
    *,
    transform: Transform | None = None,
    bands: Sequence[str] | None = None,
    dates: Sequence[str] | None = None,
    block: int | None = None,
    tags: dict[str, str] | None = None,
    on_window: Callable[[int, int], None] | None = None,
) -> Path:
    """Read ``cube`` window by window, apply ``transform`` (``(T, B, h, w)`` → ``(T', B', h, w)``
    with ``dates``/``bands`` naming its output) and write a cube GeoTIFF at ``dest``."""
    t, b, _, _ = cube.shape
    if block is None:
        block = block_size_for(cube.grid, max(t * b, 1) * 4 * 4)
    out_dates = tuple(dates) if dates is not None else cube.dates
    out_bands = tuple(bands) if bands is not None else cube.bands
    wins = list(windows(cube.grid, block))
    with cube.reader() as reader, CubeWriter(dest, cube.grid, out_dates, out_bands, tags=tags) as writer:
        for i, win in enumerate(wins):
            x = reader.read(win)
            if transform is not None:
                x = transform(x)
            if x.shape[:2] != (len(out_dates), len(out_bands)):
                raise RasterError(
                    f"cube transform gave {x.shape[:2]} layers, expected {(len(out_dates), len(out_bands))}"
                )
            writer.write(win, x)
            if on_window:
                on_window(i + 1, len(wins))
    return Path(dest)


def iter_windows(cube: Cube, block: int | None = None) -> Iterator[tuple[Window, np.ndarray]]:
    """Every window of the cube with its pixels, bounded in memory."""
    t, b, _, _ = cube.shape
    if block is None:
        block = block_size_for(cube.grid, max(t * b, 1) * 4 * 4)
    with cube.reader() as reader:
        for win in windows(cube.grid, block):
            yield win, reader.read(win)


def dated(cube: Cube) -> bool:
    return all(is_date(d) for d in cube.dates)
