"""Spatial block splits: the grid is cut into square blocks and each whole block goes to
train, validation or test, so neighbouring (strongly correlated) pixels never sit on both
sides of a split.

With a label raster the split is *stratified*: among ``trials`` seeded random assignments
of blocks, the one whose validation and test class distributions are closest to the whole
raster's wins — each class's share compared relatively, so rare classes weigh as much as
common ones — (so the held-out blocks are a fair sample, not a lucky or unlucky corner).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from eotrust.eo.labels import NODATA_CODE
from eotrust.eo.raster import Grid, open_raster, read
from eotrust.errors import InvalidInputError

SPLITS = ("train", "val", "test")
#: Assignment of a block left out of every split: the buffer between training and test ground.
EXCLUDED = 3
REGIONS = ("west", "east", "north", "south")


@dataclass(frozen=True)
class BlockSplit:
    """Which split each block belongs to: ``assignment[block_row][block_col]`` in 0..2, or
    :data:`EXCLUDED` (3) for a buffer block that belongs to none."""

    block_size: int
    height: int
    width: int
    fractions: tuple[float, float, float]
    seed: int
    stratified: bool
    assignment: tuple[tuple[int, ...], ...]

    def split_of(self, row: int, col: int) -> str | None:
        """The split of pixel (row, col); None in a buffer block."""
        a = self.assignment[row // self.block_size][col // self.block_size]
        return SPLITS[a] if a < len(SPLITS) else None

    def window_split(self, window: Window) -> np.ndarray:
        """Split index (0 train, 1 val, 2 test, 3 buffer, 255 outside the grid) of every pixel of a window."""
        col, row, w, h = int(window.col_off), int(window.row_off), int(window.width), int(window.height)
        a = self._blocks
        rr = np.arange(row, row + h)
        cc = np.arange(col, col + w)
        inside = (rr[:, None] >= 0) & (rr[:, None] < self.height) & (cc[None, :] >= 0) & (cc[None, :] < self.width)
        br = np.clip(rr // self.block_size, 0, a.shape[0] - 1)
        bc = np.clip(cc // self.block_size, 0, a.shape[1] - 1)
        out = a[br[:, None], bc[None, :]]
        return np.where(inside, out, 255).astype(np.uint8)

    @cached_property
    def _blocks(self) -> np.ndarray:
        """The assignment as a ``(block rows, block cols)`` array, made once: remade on every
        call, one pixel's split cost a pass over every block (34 ms a tile on 1000 x 1000 blocks,
        quadratic over a dataset's tiles)."""
        return _assignment_array(self.assignment)

    def to_dict(self) -> dict[str, Any]:
        return {
            "block_size": self.block_size,
            "height": self.height,
            "width": self.width,
            "fractions": list(self.fractions),
            "seed": self.seed,
            "stratified": self.stratified,
            "assignment": [list(r) for r in self.assignment],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BlockSplit:
        return cls(
            int(d["block_size"]),
            int(d["height"]),
            int(d["width"]),
            tuple(d["fractions"]),
            int(d["seed"]),
            bool(d["stratified"]),
            tuple(tuple(int(v) for v in r) for r in d["assignment"]),
        )


def _assignment_array(assignment: tuple[tuple[int, ...], ...]) -> np.ndarray:
    blocks = np.asarray(assignment, dtype=np.uint8)
    blocks.flags.writeable = False  # shared by every call of the (frozen) split
    return blocks


def _block_histograms(labels: Path, grid: Grid, block: int, nby: int, nbx: int) -> tuple[np.ndarray, list[int]]:
    codes: dict[int, int] = {}
    rows: list[dict[int, int]] = []
    with open_raster(labels) as ds:
        for by in range(nby):
            # one strip of blocks at a time: memory bounded by block x width
            strip = read(ds, 1, window=Window(0, by * block, grid.width, min(block, grid.height - by * block)))
            for bx in range(nbx):
                vals, n = np.unique(strip[:, bx * block : (bx + 1) * block], return_counts=True)
                h = {}
                for v, k in zip(vals.tolist(), n.tolist()):
                    if v != NODATA_CODE:
                        h[int(v)] = int(k)
                        codes.setdefault(int(v), len(codes))
                rows.append(h)
    order = sorted(codes)
    hist = np.zeros((nby * nbx, len(order)))
    for i, h in enumerate(rows):
        for v, k in h.items():
            hist[i, order.index(v)] = k
    return hist, order


def block_split(
    grid: Grid,
    block_size: int,
    *,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    labels: Path | None = None,
    trials: int = 200,
) -> BlockSplit:
    """Assign blocks of ``block_size`` pixels to train/val/test in ``fractions`` (of blocks
    holding labels, when ``labels`` is given), seeded; stratified by class when ``labels``."""
    if block_size < 1:
        raise InvalidInputError(f"block size must be positive, not {block_size}")
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise InvalidInputError(f"split fractions {fractions} must be three non-negative numbers summing to 1")
    nby, nbx = math.ceil(grid.height / block_size), math.ceil(grid.width / block_size)
    n = nby * nbx
    rng = np.random.default_rng(seed)
    hist = None
    if labels is not None:
        hist, _ = _block_histograms(labels, grid, block_size, nby, nbx)
        used = np.flatnonzero(hist.sum(axis=1) > 0)
    else:
        used = np.arange(n)
    if len(used) < 3 and fractions[1] > 0 and fractions[2] > 0:
        raise InvalidInputError(
            f"only {len(used)} block(s) of {block_size} px hold labels: too few to split three ways",
            hint="use a smaller block size",
        )
    n_test = max(1, round(fractions[2] * len(used))) if fractions[2] > 0 else 0
    n_val = max(1, round(fractions[1] * len(used))) if fractions[1] > 0 else 0
    n_val = min(n_val, max(len(used) - n_test - 1, 0))

    def assign(perm: np.ndarray) -> np.ndarray:
        a = np.zeros(n, dtype=np.uint8)
        a[used[perm[:n_test]]] = 2
        a[used[perm[n_test : n_test + n_val]]] = 1
        return a

    best, best_cost = None, math.inf
    share = hist.sum(axis=0) / max(hist.sum(), 1) if hist is not None else None
    for _ in range(max(1, trials if hist is not None else 1)):
        perm = rng.permutation(len(used))
        a = assign(perm)
        if hist is None or share is None:
            best = a
            break
        cost = 0.0
        for s in (1, 2):
            h = hist[a == s].sum(axis=0)
            if h.sum() > 0:
                # relative error of each class's share: rare classes count as much as common ones
                cost += (np.abs(h / h.sum() - share) / share).sum()
            elif (n_val if s == 1 else n_test) > 0:
                cost += 2.0 * len(share)
        if cost < best_cost:
            best, best_cost = a, cost
    assert best is not None
    assignment = tuple(tuple(int(v) for v in best[r * nbx : (r + 1) * nbx]) for r in range(nby))
    return BlockSplit(
        block_size,
        grid.height,
        grid.width,
        tuple(float(f) for f in fractions),  # type: ignore[arg-type]
        seed,
        hist is not None,
        assignment,
    )


def _pick_val(train_blocks: np.ndarray, val_fraction: float, rng: np.random.Generator) -> np.ndarray:
    n_val = max(1, round(val_fraction * len(train_blocks))) if val_fraction > 0 and len(train_blocks) > 1 else 0
    return rng.permutation(train_blocks)[:n_val]


def _with_buffer(test: np.ndarray, buffer: int) -> np.ndarray:
    """Blocks within ``buffer`` blocks (Chebyshev distance) of a test block, the test blocks excluded."""
    near = test.copy()
    for dy in range(-buffer, buffer + 1):
        for dx in range(-buffer, buffer + 1):
            shifted = np.zeros_like(test)
            ys = slice(max(dy, 0), test.shape[0] + min(dy, 0))
            yd = slice(max(-dy, 0), test.shape[0] + min(-dy, 0))
            xs = slice(max(dx, 0), test.shape[1] + min(dx, 0))
            xd = slice(max(-dx, 0), test.shape[1] + min(-dx, 0))
            shifted[ys, xs] = test[yd, xd]
            near |= shifted
    ring: np.ndarray = near & ~test
    return ring


def _assemble(
    grid: Grid,
    block_size: int,
    test: np.ndarray,
    buffer: int,
    val_fraction: float,
    seed: int,
    labels: Path | None,
    what: str,
) -> BlockSplit:
    nby, nbx = test.shape
    if labels is not None:
        hist, _ = _block_histograms(labels, grid, block_size, nby, nbx)
        labelled = (hist.sum(axis=1) > 0).reshape(nby, nbx)
    else:
        labelled = np.ones_like(test)
    buf = _with_buffer(test, buffer) if buffer > 0 else np.zeros_like(test)
    train = ~test & ~buf
    if not (test & labelled).any() or not (train & labelled).any():
        raise InvalidInputError(
            f"{what} leaves no labelled block on one side", hint="use a smaller block size or buffer"
        )
    a = np.zeros((nby, nbx), dtype=np.uint8)
    a[test] = 2
    a[buf] = EXCLUDED
    rng = np.random.default_rng(seed)
    candidates = np.flatnonzero((train & labelled).reshape(-1))
    val = _pick_val(candidates, val_fraction, rng)
    a.reshape(-1)[val] = 1
    return BlockSplit(
        block_size,
        grid.height,
        grid.width,
        (1.0 - val_fraction, val_fraction, 0.0),
        seed,
        False,
        tuple(tuple(int(v) for v in row) for row in a),
    )


def region_split(
    grid: Grid,
    block_size: int,
    held_out: str,
    *,
    buffer: int = 1,
    val_fraction: float = 0.15,
    seed: int = 0,
    labels: Path | None = None,
) -> BlockSplit:
    """A transfer split: the ``held_out`` half of the grid (west, east, north or south) is the
    test region; the other half trains, less ``buffer`` blocks along the border between them;
    ``val_fraction`` of the training blocks (seeded) are kept aside for early stopping — so
    every choice made while training sees the training side only."""
    if held_out not in REGIONS:
        raise InvalidInputError(f"unknown region {held_out!r}", hint=f"use one of {', '.join(REGIONS)}")
    if block_size < 1:
        raise InvalidInputError(f"block size must be positive, not {block_size}")
    nby, nbx = math.ceil(grid.height / block_size), math.ceil(grid.width / block_size)
    by = np.arange(nby)[:, None] * np.ones((1, nbx), int)
    bx = np.ones((nby, 1), int) * np.arange(nbx)[None, :]
    test = {"west": bx < nbx // 2, "east": bx >= nbx // 2, "north": by < nby // 2, "south": by >= nby // 2}[held_out]
    return _assemble(grid, block_size, test, buffer, val_fraction, seed, labels, f"holding out the {held_out} half")


def kfold_split(
    grid: Grid,
    block_size: int,
    k: int,
    fold: int,
    *,
    buffer: int = 1,
    val_fraction: float = 0.15,
    seed: int = 0,
    labels: Path | None = None,
) -> BlockSplit:
    """Fold ``fold`` of a spatial k-fold: the grid is cut into ``k`` contiguous stripes of
    blocks across its longer side; this fold's stripe is the test set, ``buffer`` blocks on
    either side of it belong to no split. (Contiguous stripes, not scattered blocks: a buffer
    around scattered blocks would leave almost nothing to train on.)"""
    if k < 2 or not 0 <= fold < k:
        raise InvalidInputError(f"fold {fold} of {k}: need k >= 2 and 0 <= fold < k")
    nby, nbx = math.ceil(grid.height / block_size), math.ceil(grid.width / block_size)
    along_rows = nby >= nbx
    n = nby if along_rows else nbx
    if n < k:
        raise InvalidInputError(
            f"{n} stripes of {block_size} px blocks cannot make {k} folds", hint="use smaller blocks"
        )
    stripe = np.arange(n) * k // n  # fold of each row (or column) of blocks
    test = np.zeros((nby, nbx), bool)
    if along_rows:
        test[stripe == fold, :] = True
    else:
        test[:, stripe == fold] = True
    return _assemble(grid, block_size, test, buffer, val_fraction, seed + 1 + fold, labels, f"fold {fold} of {k}")
