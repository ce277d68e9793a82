"""Training datasets: chunked, compressed shards (zarr) and a manifest, packed into one
deterministic zip archive that is stored by CID like any other object — so a training set
is versioned and shareable.

Archive layout::

    manifest.json           grid, bands, dates, classes, tiles and their split, counts,
                            normalisation, split parameters, source CIDs
    data/zarr.json          a zarr v3 group
    data/x/...              float32 (N, T, B, S, S): one chunk (shard) per tile
    data/y/...              uint8   (N, S, S): class index per pixel, 255 = no label

Tiles are the blocks of a spatial block split (or an exact subdivision of them), so a tile
and all of its pixels belong to one split. The same inputs and parameters give the same
bytes, hence the same CID.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rasterio.windows import Window

from eotrust.eo.cube import open_cube
from eotrust.eo.labels import NODATA_CODE, ClassList, LandClass, check_classes, check_grid, classes_of, code_counts
from eotrust.eo.raster import Grid, atomic_path, open_raster
from eotrust.eo.split import EXCLUDED, SPLITS, BlockSplit, block_split
from eotrust.eo.tiles import check_tile_count, read_padded, tile_grid
from eotrust.errors import IntegrityError, InvalidInputError, NotFoundError, first_problem
from eotrust.limits import RasterLimits, half_of_memory

FORMAT = "eotrust-training-dataset/1"
IGNORE = 255
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class DatasetClass(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int
    code: int
    name: str


class DatasetTile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int
    row: int
    col: int
    x: int
    y: int
    split: str
    labelled: int
    transform: list[float]


class Normalisation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mean: list[float]
    std: list[float]


class DatasetManifest(BaseModel):
    """Everything a trainer needs to know about a training set, and where it came from."""

    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT
    grid: dict[str, Any]
    bands: list[str]
    dates: list[str]
    classes: list[DatasetClass]
    tile_size: int
    tiles: list[DatasetTile]
    split: dict[str, Any]
    counts: dict[str, dict[str, int]]
    normalisation: Normalisation
    sources: dict[str, str] = Field(default_factory=dict)
    skipped_tiles: int = 0
    preprocessing: dict[str, str] | None = Field(
        default=None, description="the cube's cleaning tags (cleaning, mask_band)"
    )

    @property
    def class_list(self) -> ClassList:
        return ClassList.of(LandClass(c.code, c.name) for c in self.classes)

    def tiles_of(self, split: str) -> list[DatasetTile]:
        if split not in SPLITS:
            raise InvalidInputError(f"unknown split {split!r}", hint=f"use one of {', '.join(SPLITS)}")
        return [t for t in self.tiles if t.split == split]


def _present_classes(
    labels: Path, classes: ClassList | None, *, keep_absent: bool = False
) -> tuple[ClassList, dict[int, int]]:
    declared = classes if classes is not None else classes_of(labels)
    if declared is None:
        counts = code_counts(labels)
        declared = ClassList.of((c, f"class {c}") for c in counts if c != NODATA_CODE)
    counts = check_classes(labels, declared)
    present = declared.only(c for c, n in counts.items() if c != NODATA_CODE and n > 0)
    if not present.classes:
        raise InvalidInputError(
            f"{labels} holds no labelled pixel (only nodata {NODATA_CODE})",
            hint="give labels with at least one class, or synthesise them (eotrust eo labels --synthetic)",
        )
    if len(present.classes) >= IGNORE:
        raise InvalidInputError(f"{len(present.classes)} classes: at most {IGNORE - 1} are supported")
    return (declared if keep_absent else present), counts


def build_dataset(
    cube_path: Path,
    labels: Path,
    dest: Path,
    *,
    tile_size: int = 16,
    block_size: int | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    classes: ClassList | None = None,
    sources: dict[str, str] | None = None,
    trials: int = 200,
    split: BlockSplit | None = None,
    keep_absent: bool = False,
    limits: RasterLimits | None = None,
) -> DatasetManifest:
    """Cut a (cleaned) cube and its label raster into tiles, assign each to a split by
    spatial blocks, and write the archive at ``dest``. Tiles without any label are left out
    (counted in ``skipped_tiles``), as are tiles in the buffer blocks of ``split`` (a
    ready-made split, e.g. :func:`eotrust.eo.split.region_split`, instead of a random block
    split). ``keep_absent`` keeps every class of ``classes`` even when no pixel holds it (so
    the rounds of active learning share one class list). Memory: one tile at a time. Time:
    a lattice of more tiles than ``limits.max_tiles`` (:class:`~eotrust.limits.RasterLimits`)
    is refused before a pixel is read (:func:`~eotrust.eo.tiles.check_tile_count`)."""
    if tile_size < 1:
        raise InvalidInputError(f"tile size must be at least 1 pixel, not {tile_size}")
    cube = open_cube(cube_path)
    # every tile of the lattice, the labels' codes and the split's blocks are walked: a sparse
    # GeoTIFF of a few KB can declare 200,000 x 200,000 px (156 million tiles of 16 px, hours)
    check_tile_count(
        cube_path,
        tile_grid(cube.grid, tile_size),
        limits,
        hint="use a larger --tile-size, or cut the cube and its labels into parts first (e.g. gdal_translate -srcwin)",
    )
    check_grid(labels, cube.grid)
    present, _ = _present_classes(labels, classes, keep_absent=keep_absent)
    block = block_size or tile_size
    if block % tile_size:
        raise InvalidInputError(
            f"block size {block} must be a multiple of the tile size {tile_size}",
            hint="so that every tile lies in one block and one split",
        )
    if split is None:
        split = block_split(cube.grid, block, fractions=fractions, seed=seed, labels=labels, trials=trials)
    elif split.block_size % tile_size or (split.height, split.width) != (cube.grid.height, cube.grid.width):
        raise InvalidInputError(
            f"the split's {split.block_size} px blocks on {split.height} x {split.width} do not fit "
            f"{tile_size} px tiles of the cube ({cube.grid.height} x {cube.grid.width})"
        )
    lut = present.lut()
    t, b = len(cube.dates), len(cube.bands)
    s = tile_size

    import zarr
    from zarr.codecs import ZstdCodec

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".dataset-", dir=dest.parent))
    try:
        group = zarr.open_group(work / "data", mode="w")
        xs = group.create_array(
            "x",
            shape=(0, t, b, s, s),
            chunks=(1, t, b, s, s),
            dtype="float32",
            compressors=ZstdCodec(level=3),
            fill_value=np.nan,
        )
        ys = group.create_array(
            "y", shape=(0, s, s), chunks=(1, s, s), dtype="uint8", compressors=ZstdCodec(level=3), fill_value=IGNORE
        )
        entries: list[DatasetTile] = []
        counts = {sp: {c.name: 0 for c in present.classes} for sp in SPLITS}
        total = np.zeros(b)
        total_sq = np.zeros(b)
        n_obs = np.zeros(b)
        skipped = 0
        with cube.reader() as reader, open_raster(labels) as lds:
            for tile in tile_grid(cube.grid, s):
                y_codes = read_padded(lds, tile.window, fill=NODATA_CODE, indexes=[1])[0]
                idx = np.where(y_codes < len(lut), lut[np.minimum(y_codes, len(lut) - 1)], -1)
                y = np.where(idx >= 0, idx, IGNORE).astype(np.uint8)
                labelled = int((y != IGNORE).sum())
                if labelled == 0:
                    skipped += 1
                    continue
                where = int(split.window_split(Window(tile.x, tile.y, 1, 1))[0, 0])
                if where == EXCLUDED:
                    skipped += 1
                    continue
                x = reader.read(tile.window)
                _check_finite(cube_path, x, tile.x, tile.y)
                which = SPLITS[where]
                i = len(entries)
                xs.resize((i + 1, t, b, s, s))
                ys.resize((i + 1, s, s))
                xs[i] = x
                ys[i] = y
                entries.append(
                    DatasetTile(
                        index=i,
                        row=tile.row,
                        col=tile.col,
                        x=tile.x,
                        y=tile.y,
                        split=which,
                        labelled=labelled,
                        transform=list(tile.transform),
                    )
                )
                vals, n = np.unique(y[y != IGNORE], return_counts=True)
                for v, k in zip(vals.tolist(), n.tolist()):
                    counts[which][present.classes[v].name] += int(k)
                if which == "train":
                    px = x[:, :, y != IGNORE]  # (T, B, n)
                    for band in range(b):
                        v = px[:, band].astype(np.float64)
                        v = v[~np.isnan(v)]
                        total[band] += v.sum()
                        total_sq[band] += (v * v).sum()
                        n_obs[band] += v.size
        if not any(e.split == "train" for e in entries):
            raise InvalidInputError("no labelled tile fell in the training split", hint="use a smaller tile/block size")
        mean = total / np.maximum(n_obs, 1)
        std = np.sqrt(np.maximum(total_sq / np.maximum(n_obs, 1) - mean**2, 0))
        std = np.where(std > 1e-12, std, 1.0)
        manifest = DatasetManifest(
            grid=cube.grid.to_dict(),
            bands=list(cube.bands),
            dates=list(cube.dates),
            classes=[DatasetClass(index=i, code=c.code, name=c.name) for i, c in enumerate(present.classes)],
            tile_size=s,
            tiles=entries,
            split={**split.to_dict(), "tile_size": s},
            counts=counts,
            normalisation=Normalisation(mean=[float(v) for v in mean], std=[float(v) for v in std]),
            sources=dict(sorted((sources or {}).items())),
            skipped_tiles=skipped,
            preprocessing=_cleaning_tags(cube_path),
        )
        (work / "manifest.json").write_text(manifest.model_dump_json(indent=2, exclude_none=True))
        _deterministic_zip(work, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def _check_finite(cube_path: Path, x: np.ndarray, col: int, row: int) -> None:
    """InvalidInputError when a tile's pixels hold an infinity (NaN is no observation, and
    allowed): the normalisation would be infinite or NaN, and no reader accepts that archive.
    Raised before anything is written (the work folder goes, ``dest`` is never made)."""
    if np.isinf(x).any():
        t, b, y, x_ = (int(v[0]) for v in np.nonzero(np.isinf(x)))
        raise InvalidInputError(
            f"{cube_path} holds an infinite value (date {t + 1}, band {b + 1}, pixel row {row + y}, column {col + x_}); "
            "a training dataset holds finite numbers, NaN for no observation",
            hint="mask the infinities as nodata (NaN) or clip them, then build the dataset again",
        )


def _cleaning_tags(cube_path: Path) -> dict[str, str] | None:
    """How the cube was cleaned (the tags :func:`eotrust.eo.clouds.clean_cube` writes), if it was."""
    from eotrust.eo.raster import raster_info

    tags = raster_info(cube_path).tags
    if "cleaning" not in tags:
        return None
    return {"cleaning": tags["cleaning"], "mask_band": tags.get("mask_band", "")}


def _deterministic_zip(folder: Path, dest: Path) -> None:
    """Zip ``folder`` with sorted names, fixed times and modes: same files, same bytes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with atomic_path(dest) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for p in files:
            info = zipfile.ZipInfo(p.relative_to(folder).as_posix(), date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, p.read_bytes())


#: A dataset archive's manifest (grid, classes, splits, tile index) is read whole: at most this.
MAX_MANIFEST_BYTES = 512 * 2**20  # a tile index of about 8 million tiles
#: One tile (x and y) decoded: at most this. A tile of 256 x 256 px, 13 bands and 120 dates is
#: 409 MiB; the tiles ``build_dataset`` cuts are kilobytes.
MAX_TILE_BYTES = 512 * 2**20
#: A zarr metadata document (``zarr.json``) in the archive: at most this.
MAX_METADATA_BYTES = 2**20
#: The codecs a dataset array may use, in order (what ``build_dataset`` writes).
CODECS = ("BytesCodec", "ZstdCodec")


def memory_budget() -> int:
    """Bytes a whole decoded dataset may take: half this machine's memory, or half the
    address space this process may use when that is less (``prlimit``, a sandbox)."""
    import resource

    budget = half_of_memory()
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY and soft > 0:
        budget = min(budget, soft // 2)
    return budget


class TrainingDataset:
    """A training-dataset archive opened for reading (a context manager).

    Everything in the archive is checked against the manifest before any tile is decoded:
    the arrays' shapes, dtypes, chunks and codecs, the tile index, the normalisation; and a
    tile, or the whole set, whose decoded size is past the memory budget is refused. Each
    tile's chunks are then decoded into buffers of exactly their declared size, so a chunk
    that inflates further (a zstd bomb) is an error, not an allocation."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"training dataset {path} does not exist")
        try:
            with zipfile.ZipFile(path) as zf:
                declared = zf.getinfo("manifest.json").file_size
                if declared > MAX_MANIFEST_BYTES:  # checked before it is inflated (a ZIP bomb)
                    raise InvalidInputError(
                        f"{path}: its manifest declares {declared} bytes; at most {MAX_MANIFEST_BYTES} are read",
                        hint="build the archive with eotrust eo dataset",
                    )
                self.manifest = DatasetManifest.model_validate_json(zf.read("manifest.json"))
                sizes = {i.filename: i.file_size for i in zf.infolist()}
        except (zipfile.BadZipFile, KeyError) as exc:
            raise InvalidInputError(
                f"{path} is not a training-dataset archive ({exc})", hint="build one with eotrust eo dataset"
            ) from None
        except ValueError as exc:
            detail = first_problem(exc) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
            raise InvalidInputError(f"{path} has an invalid manifest: {detail}") from None
        if self.manifest.format != FORMAT:
            raise InvalidInputError(f"{path} is a {self.manifest.format!r} archive, not {FORMAT!r}")
        self.path = path
        self._check_manifest()
        for name, size in sizes.items():
            if name.endswith("zarr.json") and size > MAX_METADATA_BYTES:
                raise InvalidInputError(f"{path}: {name} declares {size} bytes; at most {MAX_METADATA_BYTES} are read")
        import zarr

        try:
            self._store = zarr.storage.ZipStore(path, mode="r")
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise InvalidInputError(f"{path} is not a training-dataset archive ({_one_line(exc)})") from None
        try:
            group = zarr.open_group(self._store, mode="r", path="data", zarr_format=3)
            x, y = group["x"], group["y"]
            if not (isinstance(x, zarr.Array) and isinstance(y, zarr.Array)):
                raise InvalidInputError(f"{path}: data/x and data/y must be arrays")
            self.x: zarr.Array[Any] = x
            self.y: zarr.Array[Any] = y
            self._check_arrays()
        except (ValueError, KeyError, TypeError, OSError, NotImplementedError) as exc:
            self._store.close()
            raise InvalidInputError(
                f"{path} does not hold a zarr v3 training dataset ({_one_line(exc)})",
                hint="build the archive with eotrust eo dataset",
            ) from None
        except InvalidInputError:
            self._store.close()
            raise
        self._zip = zipfile.ZipFile(path)

    def _check_manifest(self) -> None:
        m, path = self.manifest, self.path
        if m.tile_size < 1 or not m.dates or not m.bands:
            raise InvalidInputError(f"{path}: the manifest needs a tile size of at least 1, dates and bands")
        if not 0 < len(m.classes) < IGNORE or [c.index for c in m.classes] != list(range(len(m.classes))):
            raise InvalidInputError(f"{path}: the manifest's classes must be indexed 0..K-1 with 1 <= K < {IGNORE}")
        indices = sorted(t.index for t in m.tiles)
        if indices != list(range(len(m.tiles))):
            raise InvalidInputError(
                f"{path}: the manifest's tile indices must be 0..{len(m.tiles) - 1}, each once",
                hint="a tile listed twice, or past the arrays, is not a training set eotrust built",
            )
        if unknown := sorted({t.split for t in m.tiles} - set(SPLITS)):
            raise InvalidInputError(f"{path}: unknown split(s) {', '.join(map(repr, unknown))} in the manifest")
        norm, b = m.normalisation, len(m.bands)
        if len(norm.mean) != b or len(norm.std) != b:
            raise InvalidInputError(
                f"{path}: the normalisation has {len(norm.mean)} means and {len(norm.std)} deviations for {b} band(s)"
            )
        values = np.asarray([*norm.mean, *norm.std], dtype=np.float64)
        if not np.isfinite(values).all() or not (np.asarray(norm.std) > 0).all():
            raise InvalidInputError(f"{path}: the normalisation must be finite, with deviations above 0")

    def _check_arrays(self) -> None:
        """The arrays as the manifest describes them, as ``build_dataset`` writes them, and
        within the memory budget: before any chunk is read."""
        m, path = self.manifest, self.path
        n, t, b, s = len(m.tiles), len(m.dates), len(m.bands), m.tile_size
        want = {
            "x": (np.dtype("float32"), (n, t, b, s, s), (1, t, b, s, s)),
            "y": (np.dtype("uint8"), (n, s, s), (1, s, s)),
        }
        for name, arr in (("x", self.x), ("y", self.y)):
            dtype, shape, chunks = want[name]
            codecs = tuple(type(c).__name__ for c in arr.metadata.codecs)  # type: ignore[union-attr]
            if codecs != CODECS:
                raise InvalidInputError(
                    f"{path}: data/{name} uses the codecs {', '.join(codecs)}; only {' and '.join(CODECS)} are read"
                )
            if arr.dtype != dtype or tuple(arr.shape) != shape or tuple(arr.chunks) != chunks:
                raise InvalidInputError(
                    f"{path}: data/{name} is {arr.dtype} {tuple(arr.shape)} in chunks {tuple(arr.chunks)}; "
                    f"the manifest says {dtype} {shape} in chunks {chunks}"
                )
        tile = t * b * s * s * 4 + s * s
        if tile > MAX_TILE_BYTES:
            raise InvalidInputError(
                f"{path}: one tile ({t} dates, {b} bands, {s} x {s} px) decodes to {tile:,} bytes; "
                f"at most {MAX_TILE_BYTES:,} are read",
                hint="build the dataset with smaller tiles",
            )
        total, budget = tile * n, memory_budget()
        if total > budget:
            raise InvalidInputError(
                f"{path}: its {n} tiles decode to {total:,} bytes, past the memory budget of {budget:,}",
                hint="build a smaller dataset (fewer dates, bands or tiles)",
            )

    def close(self) -> None:
        self._zip.close()
        self._store.close()

    def __enter__(self) -> TrainingDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def grid(self) -> Grid:
        return Grid.from_dict(self.manifest.grid)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.manifest.classes]

    def tile(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(x (T, B, S, S), y (S, S))`` of one tile. Each chunk is decoded into a buffer of
        exactly its declared size; a chunk that is missing, corrupt or inflates to more, or a
        label past the classes, is an :class:`IntegrityError` naming the archive."""
        n = len(self.manifest.tiles)
        if not 0 <= index < n:
            raise InvalidInputError(f"{self.path}: no tile {index} (it holds {n})")
        x = self._chunk(self.x, "x", index).reshape(self.x.shape[1:])
        y = self._chunk(self.y, "y", index).reshape(self.y.shape[1:])
        k = len(self.manifest.classes)
        if ((y != IGNORE) & (y >= k)).any():
            raise IntegrityError(
                f"{self.path}: tile {index} holds a class index past the {k} classes (or {IGNORE}, no label)"
            )
        return x, y

    def _chunk(self, arr: Any, name: str, index: int) -> np.ndarray:
        from numcodecs import Zstd  # type: ignore[import-untyped]

        key = f"data/{name}/" + arr.metadata.encode_chunk_key((index,) + (0,) * (arr.ndim - 1))
        # zeroed: a frame declaring fewer bytes decodes into the start only, and the rest must
        # not be whatever memory this process held before
        out = np.zeros(int(np.prod(arr.chunks)), dtype=arr.dtype.newbyteorder("<"))
        try:
            info = self._zip.getinfo(key)
            if info.file_size > out.nbytes + out.nbytes // 128 + 4096:  # past zstd's bound
                raise ValueError(f"{info.file_size} bytes stored for {out.nbytes} decoded")
            raw = self._zip.read(info)
            Zstd().decode(raw, out=out)
        except KeyError:
            raise IntegrityError(f"{self.path}: tile {index} has no {name} chunk ({key})") from None
        except (ValueError, RuntimeError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise IntegrityError(
                f"{self.path}: the {name} chunk of tile {index} is corrupt ({_one_line(exc)})"
            ) from None
        return out.astype(arr.dtype, copy=False)

    def iter_tiles(self, split: str) -> Iterator[tuple[DatasetTile, np.ndarray, np.ndarray]]:
        for entry in self.manifest.tiles_of(split):
            x, y = self.tile(entry.index)
            yield entry, x, y

    def pixels(self, split: str, *, max_samples: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The labelled pixels of a split as ``(X (N, B, T) float32, y (N,) int64)`` — raw
        values (NaN where never observed). With ``max_samples``, a seeded random subset."""
        t, b = len(self.manifest.dates), len(self.manifest.bands)
        total = sum(e.labelled for e in self.manifest.tiles_of(split))
        keep_p = 1.0 if not max_samples or total <= max_samples else max_samples / total
        rng = np.random.default_rng(seed)
        xs, ys = [], []
        for _, x, y in self.iter_tiles(split):
            m = y != IGNORE
            if keep_p < 1.0:
                m &= rng.random(y.shape) < keep_p
            if m.any():
                xs.append(np.transpose(x[:, :, m], (2, 1, 0)))  # (n, B, T)
                ys.append(y[m].astype(np.int64))
        if not xs:
            return np.zeros((0, b, t), np.float32), np.zeros(0, np.int64)
        return np.concatenate(xs).astype(np.float32, copy=False), np.concatenate(ys)

    def tiles(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The tiles of a split as ``(X (N, T*B, S, S) float32, y (N, S, S) int64 with -1 = no label)``."""
        xs, ys = [], []
        for _, x, y in self.iter_tiles(split):
            xs.append(x.reshape(-1, *x.shape[2:]))
            ys.append(np.where(y == IGNORE, -1, y.astype(np.int64)))
        t, b, s = len(self.manifest.dates), len(self.manifest.bands), self.manifest.tile_size
        if not xs:
            return np.zeros((0, t * b, s, s), np.float32), np.zeros((0, s, s), np.int64)
        return np.stack(xs).astype(np.float32, copy=False), np.stack(ys)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def open_dataset(path: Path) -> TrainingDataset:
    return TrainingDataset(path)


def put_dataset(store: Any, path: Path) -> str:
    """Store a dataset archive; its CID names this exact training set."""
    TrainingDataset(path).close()  # refuse to store something that is not one
    return str(store.put_file(Path(path)))


def fetch_dataset(store: Any, cid: str, dest_dir: Path) -> Path:
    """The archive of ``cid`` from the store (verified), as a local file. A copy already in
    ``dest_dir`` is used only if it still hashes to ``cid`` (whoever can write the home could
    put any archive there, and a model trained on it would name the genuine CID); else it is
    fetched again."""
    from eotrust.cid import cid_of_file, same_cid

    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{cid}.zip"
    if not (dest.is_file() and same_cid(cid_of_file(dest), cid)):
        dest.unlink(missing_ok=True)
        store.get_file(cid, dest)
    return dest
