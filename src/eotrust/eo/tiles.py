"""Tiling and windowing: square tiles with overlap, each carrying its own georeferenced
transform; temporal windows over a cube's dates; and tile-by-tile reading of any raster so
memory stays bounded for any scene size.

Tiles lie on a regular lattice (stride ``size - overlap``) from the top-left corner; the last
row and column may reach past the raster's edge, and those pixels read as nodata (padding),
so every tile has the same shape and a transform that is exact for all of its pixels.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, overload

import numpy as np
import rasterio
from rasterio.windows import Window

from eotrust.eo.raster import Grid, atomic_path, geotiff_profile, open_raster, parse_date, read
from eotrust.errors import RasterError
from eotrust.limits import RASTER_LIMITS, RasterLimits, half_of_memory
from eotrust.store.atomic import write_atomic


@dataclass(frozen=True)
class Tile:
    """One tile: its place in the lattice, its pixel window, and its own transform."""

    row: int
    col: int
    x: int  # column offset of the window's top-left pixel
    y: int  # row offset
    size: int
    transform: tuple[float, float, float, float, float, float]

    @property
    def window(self) -> Window:
        return Window(self.x, self.y, self.size, self.size)

    @property
    def id(self) -> str:
        return f"r{self.row:04d}_c{self.col:04d}"

    def bounds(self) -> tuple[float, float, float, float]:
        a, _, c, _, e, f = self.transform
        right, bottom = c + a * self.size, f + e * self.size
        return (min(c, right), min(f, bottom), max(c, right), max(f, bottom))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TileGrid(Sequence[Tile]):
    """The lattice of ``size`` x ``size`` tiles overlapping by ``overlap`` pixels that covers
    ``grid``, row by row: a sequence whose tiles are made when asked for, so a lattice of
    millions of tiles (a 200,000 px scene in tiles of 32) costs nothing until it is walked —
    built whole, it was 19 GiB before the first pixel was read."""

    grid: Grid
    size: int
    overlap: int
    rows: int
    cols: int

    @property
    def stride(self) -> int:
        return self.size - self.overlap

    def __len__(self) -> int:
        return self.rows * self.cols

    @overload
    def __getitem__(self, index: int) -> Tile: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Tile]: ...

    def __getitem__(self, index: int | slice) -> Tile | Sequence[Tile]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"tile {index} of a lattice of {n}")
        return self.tile(*divmod(i, self.cols))

    def __iter__(self) -> Iterator[Tile]:
        for r in range(self.rows):
            for c in range(self.cols):
                yield self.tile(r, c)

    def tile(self, row: int, col: int) -> Tile:
        """The tile at ``row``, ``col`` of the lattice."""
        x, y = col * self.stride, row * self.stride
        transform = self.grid.window_transform(Window(x, y, self.size, self.size))
        return Tile(row, col, x, y, self.size, tuple(transform)[:6])


def tile_grid(grid: Grid, size: int, overlap: int = 0) -> TileGrid:
    """The lattice of ``size`` x ``size`` tiles overlapping by ``overlap`` pixels that covers
    ``grid`` (lazy: :class:`TileGrid`)."""
    if size < 1:
        raise RasterError(f"tile size must be positive, not {size}")
    if not 0 <= overlap < size:
        raise RasterError(f"overlap {overlap} must be at least 0 and less than the tile size {size}")
    stride = size - overlap
    rows = max(1, math.ceil((grid.height - overlap) / stride))
    cols = max(1, math.ceil((grid.width - overlap) / stride))
    return TileGrid(grid, size, overlap, rows, cols)


def check_tile_count(
    path: Path,
    tiles: TileGrid,
    limits: RasterLimits | None = None,
    *,
    hint: str = "use a larger --size, or cut the raster into parts first",
) -> None:
    """Refuse, before anything is read or made, a tiling whose lattice has more tiles than
    :class:`~eotrust.limits.RasterLimits` allows: each tile is read (and, unless empty,
    written), and a header of a few bytes can declare a scene of 39 million tiles. ``hint``:
    what the command that tiles offers instead (``eo tile``'s by default)."""
    limits = limits or RASTER_LIMITS
    if len(tiles) > limits.max_tiles:
        raise RasterError(
            f"{path} ({tiles.grid.width:,} x {tiles.grid.height:,} px) makes {len(tiles):,} tiles of {tiles.size} px; "
            f"at most {limits.max_tiles:,} are cut",
            hint=hint,
        )


def read_padded(ds: Any, window: Window, *, fill: float, indexes: Sequence[int] | None = None) -> np.ndarray:
    """Read ``window`` of an open raster; pixels beyond the raster are ``fill``."""
    idx = list(indexes) if indexes is not None else list(range(1, ds.count + 1))
    col, row, w, h = int(window.col_off), int(window.row_off), int(window.width), int(window.height)
    dtype = np.dtype(ds.dtypes[0])
    if np.isnan(fill) and dtype.kind != "f":
        dtype = np.dtype("float32")
    out = np.full((len(idx), h, w), fill, dtype=dtype)
    c0, r0, c1, r1 = max(col, 0), max(row, 0), min(col + w, ds.width), min(row + h, ds.height)
    if c1 > c0 and r1 > r0:
        out[:, r0 - row : r1 - row, c0 - col : c1 - col] = read(ds, idx, window=Window(c0, r0, c1 - c0, r1 - r0))
    return out


def is_empty(data: np.ndarray, nodata: float | None) -> bool:
    """True when every pixel of ``data`` is nodata (or NaN)."""
    if data.size == 0:
        return True
    if np.issubdtype(data.dtype, np.floating):
        empty = np.isnan(data)
        if nodata is not None and not np.isnan(nodata):
            empty |= data == nodata
        return bool(empty.all())
    return nodata is not None and bool((data == nodata).all())


@dataclass(frozen=True)
class TileRecord:
    """A tile written by :func:`tile_raster`."""

    tile: Tile
    path: str


@dataclass(frozen=True)
class TilingReport:
    tiles: list[TileRecord]
    skipped_empty: int
    size: int
    overlap: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "overlap": self.overlap,
            "skipped_empty": self.skipped_empty,
            "tiles": [{**r.tile.to_dict(), "path": r.path} for r in self.tiles],
        }


def iter_tiles(
    path: Path, size: int, overlap: int = 0, *, skip_empty: bool = True, indexes: Sequence[int] | None = None
) -> Iterator[tuple[Tile, np.ndarray]]:
    """Each tile of a raster with its pixels (``(bands, size, size)``, padded with nodata),
    one at a time; tiles that are only nodata are skipped when ``skip_empty``."""
    with open_raster(path) as ds:
        grid = Grid.from_dataset(ds)
        fill = ds.nodata if ds.nodata is not None else (np.nan if np.dtype(ds.dtypes[0]).kind == "f" else 0)
        for tile in tile_grid(grid, size, overlap):
            data = read_padded(ds, tile.window, fill=fill, indexes=indexes)
            if skip_empty and is_empty(data, ds.nodata):
                continue
            yield tile, data


def _check_tile_memory(path: Path, size: int, count: int, itemsize: int) -> None:
    """Refuse, before reading, a tile (every band of it, held at once) that would take more
    than half this machine's memory."""
    need, budget = size * size * count * itemsize, half_of_memory()
    if need > budget:
        raise RasterError(
            f"a {size}×{size} tile of {path} ({count} bands) is too large to hold in memory: "
            f"{need / 2**30:.1f} GiB, more than half this machine's memory ({budget / 2**30:.1f} GiB)",
            hint="use a smaller --size",
        )


def tile_raster(path: Path, out_dir: Path, size: int, overlap: int = 0, *, skip_empty: bool = True) -> TilingReport:
    """Cut a raster into GeoTIFF tiles (``r0000_c0000.tif``…), each with its own transform
    and the source's CRS, nodata, band descriptions and tags; write ``tiles.json`` beside them."""
    path, out_dir = Path(path), Path(out_dir)
    records: list[TileRecord] = []
    with open_raster(path) as ds:
        grid = Grid.from_dataset(ds)
        tiles = tile_grid(grid, size, overlap)  # a bad size or overlap is refused before anything is made
        check_tile_count(path, tiles)
        nodata, desc, tags, dtype = ds.nodata, ds.descriptions, ds.tags(), ds.dtypes[0]
        _check_tile_memory(path, size, ds.count, np.dtype(dtype).itemsize)
        created = not out_dir.exists()
        out_dir.mkdir(parents=True, exist_ok=True)
        fill = nodata if nodata is not None else (np.nan if np.dtype(dtype).kind == "f" else 0)
        skipped = 0
        try:
            for tile in tiles:
                data = read_padded(ds, tile.window, fill=fill)
                if skip_empty and is_empty(data, nodata):
                    skipped += 1
                    continue
                tgrid = Grid(grid.crs, tile.transform, size, size)
                dest = out_dir / f"{tile.id}.tif"
                profile = geotiff_profile(
                    tgrid,
                    count=data.shape[0],
                    dtype=str(data.dtype),
                    nodata=nodata,
                    block=min(256, max(16, size - size % 16)),
                )
                with atomic_path(dest) as tmp, rasterio.open(tmp, "w", **profile) as out:
                    out.write(data)
                    for i, d in enumerate(desc):
                        if d:
                            out.set_band_description(i + 1, d)
                    out.update_tags(**tags, tile=tile.id)
                records.append(TileRecord(tile, str(dest)))
            report = TilingReport(records, skipped, size, overlap)
            write_atomic(
                out_dir / "tiles.json",
                json.dumps({"source": str(path), "grid": grid.to_dict(), **report.to_dict()}, indent=2).encode(),
            )
        except BaseException:
            # a corrupt block, Ctrl-C, SIGTERM: the tiles this run wrote go too, so that no
            # folder of some tiles without its tiles.json is left to be taken for a tiling
            for record in records:
                Path(record.path).unlink(missing_ok=True)
            if created:
                with contextlib.suppress(OSError):
                    out_dir.rmdir()
            raise
    return report


@dataclass(frozen=True)
class TemporalWindow:
    """A run of consecutive dates: ``indices`` into the cube's dates, ``label`` its start."""

    start: str
    end: str
    indices: tuple[int, ...]

    @property
    def label(self) -> str:
        return self.start


def temporal_windows(
    dates: Sequence[str],
    *,
    days: float | None = None,
    step_days: float | None = None,
    count: int | None = None,
    step: int | None = None,
) -> list[TemporalWindow]:
    """Windows over ``dates`` (in time order): either ``days`` long every ``step_days``
    (default: no overlap) from the first date, or ``count`` dates every ``step`` dates. Windows
    with no date are left out."""
    if not dates:
        raise RasterError("no dates to window")
    times = [parse_date(d) for d in dates]
    if any(b < a for a, b in zip(times, times[1:])):
        raise RasterError("dates must be in time order to window them")
    out: list[TemporalWindow] = []
    if days is not None:
        if not (math.isfinite(days) and days > 0):
            raise RasterError(f"a temporal window must last more than 0 days, not {days}")
        if step_days is not None and not (math.isfinite(step_days) and step_days > 0):
            raise RasterError(f"the step between temporal windows must be more than 0 days, not {step_days}")
        # a window (or step) longer than the series covers it all: no date past the calendar
        span = (times[-1] - times[0]).days + 1
        stride = timedelta(days=min(step_days or days, span))
        length = timedelta(days=min(days, span))
        start = times[0]
        while start <= times[-1]:
            idx = tuple(i for i, t in enumerate(times) if start <= t < start + length)
            if idx:
                out.append(TemporalWindow(start.date().isoformat(), (start + length).date().isoformat(), idx))
            start += stride
        return out
    if count is None or count < 1:
        raise RasterError("give a window length in days or a positive number of dates")
    stride_n = step or count
    for i in range(0, len(dates), stride_n):
        idx = tuple(range(i, min(i + count, len(dates))))
        out.append(TemporalWindow(dates[idx[0]], dates[idx[-1]], idx))
        if idx[-1] == len(dates) - 1:
            break
    return out


def dates_between(dates: Sequence[str], start: str | None, end: str | None) -> list[int]:
    """Indices of the dates in ``[start, end)`` (either open)."""
    lo = parse_date(start) if start else None
    hi = parse_date(end) if end else None
    idx = [i for i, d in enumerate(dates) if (lo is None or parse_date(d) >= lo) and (hi is None or parse_date(d) < hi)]
    if not idx:
        raise RasterError(
            f"no date between {start or 'the start'} and {end or 'the end'}",
            hint=f"the data runs from {dates[0]} to {dates[-1]}",
        )
    return idx
