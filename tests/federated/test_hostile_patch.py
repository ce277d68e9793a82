"""Attack: a data owner's patch directory holds a GeoTIFF whose few header bytes declare one
block of 45,056 x 45,056 px (2.1 GB once decoded). ``load_patch`` reads it with the layout
check every other raster reader applies, and refuses it in one line (an EotrustError) before a
pixel is read.

Before: ``load_patch`` opened the three rasters with ``rasterio.open`` directly and decoded the
block (2 GB and more; a MemoryError traceback under a 3 GiB cap)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bounded_child import bounded_child
from sparse_rasters import sparse_raster

from eotrust.federated.data import load_patch, sample_patch


@pytest.mark.parametrize("name", ["ndvi.tif", "cloud_mask.tif", "lulc.tif"])
def test_a_block_bomb_in_the_patch_is_refused_in_one_line(tmp_path: Path, name: str) -> None:
    patch = tmp_path / "patch"
    shutil.copytree(sample_patch(), patch)
    bomb = sparse_raster(patch / name, 45_056, 45_056, block=45_056, bigtiff="no")
    assert bomb.stat().st_size < 2_000
    code, _, stderr, peak_kib = bounded_child(
        f"from eotrust.federated.data import load_patch; load_patch(__import__('pathlib').Path({str(patch)!r}))"
    )
    assert code == 1 and "Traceback" not in stderr, stderr
    (line,) = [line for line in stderr.splitlines() if line.strip()]
    assert line.startswith("error:") and name in line and "blocks of 45,056 x 45,056 px" in line, line
    assert 0 < peak_kib < 400_000


def test_the_bundled_patch_still_loads() -> None:
    patch = load_patch()
    assert patch.ndvi.shape == (68, 101, 60) and patch.labels.shape == (101, 60) and len(patch.dates) == 68
