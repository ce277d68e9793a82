from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eotrust.errors import InvalidInputError
from eotrust.eo.raster import raster_info
from eotrust.eo.split import BlockSplit, block_split


def test_block_split_keeps_blocks_whole_and_is_seeded(slovenia: Path) -> None:
    grid = raster_info(slovenia / "ndvi.tif").grid
    s = block_split(grid, 10, seed=3)
    again = block_split(grid, 10, seed=3)
    assert s == again and s != block_split(grid, 10, seed=4)
    full = s.window_split(grid.full_window())
    assert full.shape == (101, 60)
    for by in range(11):
        for bx in range(6):
            block = full[by * 10:(by + 1) * 10, bx * 10:(bx + 1) * 10]
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
    share = lambda m: np.bincount(y[m & (y > 0)], minlength=9)[[2, 3, 4, 8]] / (m & (y > 0)).sum()  # noqa: E731
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
