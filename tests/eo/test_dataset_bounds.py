"""Attack: a data owner hands over a cube and labels that declare a huge scene (200,000 x
200,000 px, a few KB on disk, all nodata) and asks `eo dataset` for small tiles. The tile
lattice is refused in one line before a pixel is walked, as `eo tile` refuses it.

Before: `build_dataset` counted the labels' codes pixel by pixel (40 billion pixels) and
walked the blocks of the stratified split before the first tile: bounded in memory, but
hours of CPU for one command (stopped here at the 20 s timeout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from eo_world import write_raster
from measured_cli import measured_cli, one_line_refusal
from sparse_rasters import sparse_raster

from eotrust.errors import RasterError

SIDE = 200_000


def _sparse_cube_and_labels(tmp_path: Path) -> tuple[Path, Path]:
    """A cube of two dates of NDVI and its labels (classes 1 and 2), both 200,000 x 200,000 px
    and holding no block at all."""
    cube = sparse_raster(tmp_path / "cube.tif", SIDE, SIDE, block=1024, count=2, dtype="float32", nodata=None)
    with rasterio.open(cube, "r+") as ds:
        ds.set_band_description(1, "ndvi@2020-01-01")
        ds.set_band_description(2, "ndvi@2020-02-01")
    labels = sparse_raster(tmp_path / "labels.tif", SIDE, SIDE, block=1024, dtype="uint16")
    with rasterio.open(labels, "r+") as ds:
        ds.update_tags(classes="0 no data,1 crops,2 forest")
    assert cube.stat().st_size < 2_000_000 and labels.stat().st_size < 2_000_000
    return cube, labels


def test_eo_dataset_refuses_a_huge_lattice_in_one_line_before_any_walk(tmp_path: Path) -> None:
    cube, labels = _sparse_cube_and_labels(tmp_path)
    out = tmp_path / "out" / "ds.zip"
    out.parent.mkdir()
    # a timeout (the old walk takes hours), not hours of this machine, says it failed
    code, _, stderr, peak_kib = measured_cli(
        tmp_path / "h",
        "eo",
        "dataset",
        str(cube),
        str(labels),
        "--tile-size",
        "16",
        "--no-store",
        "-o",
        str(out),
        timeout=20,
    )
    line = one_line_refusal(code, stderr)
    assert "156,250,000 tiles of 16 px" in line and "at most 1,000,000" in line, line
    assert "200,000 x 200,000 px" in line
    assert list(out.parent.iterdir()) == []  # no archive, no work folder
    assert peak_kib < 400_000


def test_build_dataset_refuses_the_lattice_before_counting_a_label(tmp_path: Path) -> None:
    from eotrust.eo.dataset import build_dataset
    from eotrust.limits import RasterLimits

    cube, labels = _sparse_cube_and_labels(tmp_path)
    dest = tmp_path / "out" / "ds.zip"
    with pytest.raises(RasterError, match=r"makes 156,250,000 tiles of 16 px; at most 1,000,000"):
        build_dataset(cube, labels, dest, tile_size=16)
    # a caller's own, tighter bound
    with pytest.raises(RasterError, match=r"makes 39,062,500 tiles of 32 px; at most 10 "):
        build_dataset(cube, labels, dest, tile_size=32, limits=RasterLimits(max_tiles=10))
    assert not dest.exists()


def test_a_lattice_within_the_bound_still_builds(tmp_path: Path) -> None:
    from eotrust.eo.dataset import TrainingDataset, build_dataset
    from eotrust.limits import RasterLimits

    x = np.random.default_rng(0).random((2, 32, 32)).astype(np.float32)
    cube = write_raster(tmp_path / "cube.tif", x, descriptions=["ndvi@2020-01-01", "ndvi@2020-02-01"])
    y = np.ones((32, 32), np.uint16)
    y[16:, :] = 2
    labels = write_raster(tmp_path / "labels.tif", y, nodata=0, tags={"classes": "1 a,2 b"})
    # 16 tiles of 8 px: exactly the bound
    build_dataset(
        cube, labels, tmp_path / "ds.zip", tile_size=8, fractions=(0.5, 0.25, 0.25), limits=RasterLimits(max_tiles=16)
    )
    with TrainingDataset(tmp_path / "ds.zip") as ds:
        assert len(ds.manifest.tiles) == 16
    with pytest.raises(RasterError, match="makes 16 tiles of 8 px; at most 15 are cut"):
        build_dataset(
            cube,
            labels,
            tmp_path / "b.zip",
            tile_size=8,
            fractions=(0.5, 0.25, 0.25),
            limits=RasterLimits(max_tiles=15),
        )
