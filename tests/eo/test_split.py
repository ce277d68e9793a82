from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from eotrust.eo.raster import raster_info
from eotrust.eo.split import BlockSplit, block_split
from eotrust.errors import InvalidInputError


def test_block_split_keeps_blocks_whole_and_is_seeded(slovenia: Path) -> None:
    grid = raster_info(slovenia / "ndvi.tif").grid
    s = block_split(grid, 10, seed=3)
    again = block_split(grid, 10, seed=3)
    assert s == again and s != block_split(grid, 10, seed=4)
    full = s.window_split(grid.full_window())
    assert full.shape == (101, 60)
    for by in range(11):
        for bx in range(6):
            block = full[by * 10 : (by + 1) * 10, bx * 10 : (bx + 1) * 10]
            assert (block == block.flat[0]).all()  # no block straddles two splits
    assert BlockSplit.from_dict(s.to_dict()) == s
    assert s.split_of(0, 0) in ("train", "val", "test")


def test_stratified_split_gives_fair_held_out_blocks(slovenia: Path) -> None:
    import rasterio

    grid = raster_info(slovenia / "ndvi.tif").grid
    s = block_split(grid, 10, labels=slovenia / "lulc.tif", seed=0)
    with rasterio.open(slovenia / "lulc.tif") as ds:
        y = ds.read(1)
    split = s.window_split(grid.full_window())

    def share(m: NDArray[np.bool_]) -> NDArray[np.float64]:
        fractions: NDArray[np.float64] = np.bincount(y[m & (y > 0)], minlength=9)[[2, 3, 4, 8]] / (m & (y > 0)).sum()
        return fractions

    overall, test = share(np.ones_like(split, bool)), share(split == 2)
    assert np.all(test > 0)  # every class is present in the test blocks
    assert np.abs(test - overall).max() < 0.05
    assert 0.15 < (split == 2).mean() < 0.25


def test_bad_split_parameters(slovenia: Path) -> None:
    grid = raster_info(slovenia / "ndvi.tif").grid
    with pytest.raises(InvalidInputError):
        block_split(grid, 10, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(InvalidInputError, match="too few"):
        block_split(grid, 200)


def _neighbours(a: np.ndarray, value: int) -> np.ndarray:
    m: NDArray[np.bool_] = a == value
    near = m.copy()
    near[1:] |= m[:-1]
    near[:-1] |= m[1:]
    near[:, 1:] |= m[:, :-1]
    near[:, :-1] |= m[:, 1:]
    return near


@pytest.mark.parametrize("held_out", ["west", "east", "north", "south"])
def test_region_split_holds_out_a_half_with_a_buffer(slovenia: Path, held_out: str) -> None:
    from eotrust.eo.split import EXCLUDED, region_split

    grid = raster_info(slovenia / "ndvi.tif").grid
    s = region_split(grid, 10, held_out, buffer=1, labels=slovenia / "lulc.tif", seed=1)
    a = np.asarray(s.assignment)
    test_cols = {"west": slice(0, 3), "east": slice(3, 6)}
    if held_out in test_cols:
        assert (a[:, test_cols[held_out]] == 2).all() and not (
            a[:, {"west": slice(3, 6), "east": slice(0, 3)}[held_out]] == 2
        ).any()
    # the attack: a training or validation block touching a test block (leaking neighbours)
    assert not (_neighbours(a, 2) & ((a == 0) | (a == 1))).any()
    assert (a == EXCLUDED).any() and (a == 1).any() and (a == 0).any()
    assert s.split_of(0, 0) in ("train", "val", "test", None)


def test_kfold_covers_every_block_once_as_test(slovenia: Path) -> None:
    from eotrust.eo.split import kfold_split, region_split

    grid = raster_info(slovenia / "ndvi.tif").grid
    tests = [np.asarray(kfold_split(grid, 10, 4, f, buffer=1, seed=0).assignment) == 2 for f in range(4)]
    assert (np.sum(tests, axis=0) == 1).all()  # every block is a test block in exactly one fold
    assert all(((np.asarray(kfold_split(grid, 10, 4, f).assignment) == 0).sum() >= 4 * 6) for f in range(4))
    for f in range(4):
        a = np.asarray(kfold_split(grid, 10, 4, f, buffer=1, seed=0).assignment)
        assert not (_neighbours(a, 2) & (a < 2)).any()
    with pytest.raises(InvalidInputError):
        kfold_split(grid, 10, 4, 4)
    with pytest.raises(InvalidInputError):
        region_split(grid, 10, "up")


def test_dataset_on_a_region_split_leaves_the_buffer_out(slovenia: Path, tmp_path: Path) -> None:
    from eotrust.eo.dataset import build_dataset
    from eotrust.eo.split import region_split

    grid = raster_info(slovenia / "ndvi.tif").grid
    split = region_split(grid, 10, "east", labels=slovenia / "lulc.tif")
    m = build_dataset(slovenia / "ndvi.tif", slovenia / "lulc.tif", tmp_path / "d.zip", tile_size=10, split=split)
    assert {t.split for t in m.tiles} == {"train", "val", "test"}
    assert all(t.x >= 30 for t in m.tiles if t.split == "test") and all(t.x < 20 for t in m.tiles if t.split != "test")
    with pytest.raises(InvalidInputError, match="do not fit"):
        build_dataset(slovenia / "ndvi.tif", slovenia / "lulc.tif", tmp_path / "e.zip", tile_size=4, split=split)
