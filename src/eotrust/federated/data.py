"""A data owner's training data: the pixels of its own region as NDVI time series.

The Slovenian patch (``eotrust/data/slovenia-s2-ndvi``: 68 Sentinel-2 NDVI dates, 101 × 60
pixels, land-cover labels) is split spatially into horizontal bands of rows: the first
``owners`` bands are the owners' regions, the last band is held out for evaluation (no owner
holds it). A region is a :class:`PixelSet`: cloudy observations are NaN, then series are
centred and scaled with fixed NDVI constants and NaN becomes 0; pixels without a label are
left out. An owner's set is an ``.npz`` file on its own machine; it is never uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eotrust.errors import InvalidInputError, NotFoundError

NDVI_MEAN, NDVI_STD = 0.4, 0.3
CLASS_CODES = [2, 3, 4, 8]
CLASS_NAMES = ["forest", "grassland", "shrubland", "artificial surface"]


def sample_patch() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "slovenia-s2-ndvi"


@dataclass(frozen=True)
class PixelSet:
    """``x`` (N, 1, T) float32 normalised series; ``y`` (N,) int64 class indices."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    @property
    def nbytes(self) -> int:
        return int(self.x.nbytes + self.y.nbytes)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez(fh, x=self.x, y=self.y)
        return path

    @classmethod
    def load(cls, path: Path) -> PixelSet:
        if not path.is_file():
            raise NotFoundError(f"no training data at {path}", hint="pass the owner's .npz (eotrust federated split)")
        try:
            with np.load(path, allow_pickle=False) as f:
                x, y = np.asarray(f["x"], dtype=np.float32), np.asarray(f["y"], dtype=np.int64)
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInputError(f"{path} is not an owner's pixel set: {exc}") from None
        if x.ndim != 3 or len(x) != len(y) or len(y) == 0:
            raise InvalidInputError(f"{path}: x must be (N, C, T) and y (N,), N > 0")
        return cls(x, y)


@dataclass(frozen=True)
class Patch:
    ndvi: np.ndarray  # (T, H, W), cloudy observations NaN
    labels: np.ndarray  # (H, W) land-cover codes
    dates: list[str]

    @property
    def height(self) -> int:
        return int(self.labels.shape[0])

    def pixels(self, rows: tuple[int, int]) -> PixelSet:
        """The labelled pixels of rows ``rows[0]..rows[1]-1``."""
        a, b = rows
        series = self.ndvi[:, a:b, :].reshape(self.ndvi.shape[0], -1).T  # (N, T)
        codes = self.labels[a:b, :].reshape(-1)
        lookup = {c: i for i, c in enumerate(CLASS_CODES)}
        keep = np.isin(codes, CLASS_CODES)
        x = ((series[keep] - NDVI_MEAN) / NDVI_STD)[:, None, :]
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        y = np.array([lookup[int(c)] for c in codes[keep]], dtype=np.int64)
        return PixelSet(x, y)


def load_patch(directory: Path | None = None) -> Patch:
    """The patch of ``directory`` (default: the bundled Slovenian one). Its rasters are opened as
    every raster another party hands over is (:func:`~eotrust.eo.raster.open_raster`: a GeoTIFF
    file whose header declares no block or band count past the bounds): a 396-byte header
    declaring one block of 45,056 x 45,056 px made this read 2 GB."""
    from eotrust.eo.raster import open_raster

    d = directory or sample_patch()
    with open_raster(d / "ndvi.tif", require_crs=False) as src:
        ndvi = src.read().astype(np.float32)
        dates = (src.tags().get("dates") or "").split(",")
    with open_raster(d / "cloud_mask.tif", require_crs=False) as src:
        clouds = src.read().astype(bool)
    with open_raster(d / "lulc.tif", require_crs=False) as src:
        labels = src.read(1)
    ndvi[clouds] = np.nan
    return Patch(ndvi=ndvi, labels=labels, dates=dates)


def regions(height: int, owners: int = 3) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Row bands: one per owner, then the held-out band (equal bands; the last takes the rest)."""
    if owners < 1 or height < owners + 1:
        raise InvalidInputError(f"cannot split {height} rows among {owners} owners and a held-out region")
    step = height // (owners + 1)
    bands = [(i * step, (i + 1) * step) for i in range(owners)]
    return bands, (owners * step, height)
