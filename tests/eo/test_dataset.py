from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from eo_world import write_raster

from eotrust.eo.clouds import clean_cube
from eotrust.eo.cube import Source, stack
from eotrust.eo.dataset import IGNORE, TrainingDataset, build_dataset, fetch_dataset, put_dataset
from eotrust.eo.labels import ClassList
from eotrust.errors import InvalidInputError, RasterError

if TYPE_CHECKING:
    from eotrust.settings import Settings


@pytest.fixture
def cube(tmp_path: Path, slovenia: Path) -> Path:
    c = stack([Source(slovenia / "ndvi.tif", band="ndvi"), Source(slovenia / "cloud_mask.tif", band="cloud_mask")])
    clean_cube(c, tmp_path / "cube.tif")
    return tmp_path / "cube.tif"


def test_dataset_archive_is_deterministic_and_complete(tmp_path: Path, cube: Path, slovenia: Path) -> None:
    a = build_dataset(cube, slovenia / "lulc.tif", tmp_path / "a.zip", tile_size=10, sources={"lulc": "Qmx"})
    build_dataset(cube, slovenia / "lulc.tif", tmp_path / "b.zip", tile_size=10, sources={"lulc": "Qmx"})
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert [c.name for c in a.classes] == ["forest", "grassland", "shrubland", "artificial surface"]
    assert [c.code for c in a.classes] == [2, 3, 4, 8]
    assert sum(sum(c.values()) for c in a.counts.values()) == 6060 - 126
    assert {t.split for t in a.tiles} == {"train", "val", "test"}
    assert a.sources == {"lulc": "Qmx"} and len(a.dates) == 68 and a.bands == ["ndvi"]
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        names = z.namelist()
        assert "manifest.json" in names and "data/zarr.json" in names and names == sorted(names)
    with TrainingDataset(tmp_path / "a.zip") as ds:
        x, y = ds.tile(0)
        assert x.shape == (68, 1, 10, 10) and y.shape == (10, 10)
        xt, yt = ds.pixels("train")
        assert xt.shape == (len(yt), 1, 68) and len(yt) == sum(a.counts["train"].values())
        sub, _ = ds.pixels("train", max_samples=500, seed=1)
        assert 300 < len(sub) < 700
        tx, ty = ds.tiles("test")
        assert tx.shape[1:] == (68, 10, 10) and (ty >= -1).all()
    # the tiles of the test split are exactly the test blocks
    assert all(t.split == "test" for t in a.tiles_of("test"))


def test_store_round_trip(tmp_path: Path, cube: Path, slovenia: Path, settings: Settings) -> None:
    from eotrust.store import open_store

    build_dataset(cube, slovenia / "lulc.tif", tmp_path / "a.zip", tile_size=10)
    store = open_store(settings)
    cid = put_dataset(store, tmp_path / "a.zip")
    back = fetch_dataset(store, cid, tmp_path / "cache")
    assert back.read_bytes() == (tmp_path / "a.zip").read_bytes()
    not_a_dataset = tmp_path / "x.zip"
    not_a_dataset.write_bytes(b"PK nothing")
    with pytest.raises(InvalidInputError, match="not a training-dataset archive"):
        put_dataset(store, not_a_dataset)


def test_tiles_without_labels_are_left_out(tmp_path: Path, cube: Path, slovenia: Path) -> None:
    import rasterio

    with rasterio.open(slovenia / "lulc.tif") as ds:
        y, profile = ds.read(1), ds.profile
        tags = ds.tags()
    y[:50] = 0  # the northern half has no reference
    with rasterio.open(tmp_path / "half.tif", "w", **profile) as ds:
        ds.write(y, 1)
        ds.update_tags(**tags)
    m = build_dataset(cube, tmp_path / "half.tif", tmp_path / "h.zip", tile_size=10)
    assert m.skipped_tiles == 30 and all(t.y >= 50 or t.y + 10 > 50 for t in m.tiles)
    with TrainingDataset(tmp_path / "h.zip") as ds:
        for entry in m.tiles:
            assert (ds.tile(entry.index)[1] != IGNORE).any()


def test_bad_labels_are_refused(tmp_path: Path, cube: Path, slovenia: Path) -> None:
    other_grid = write_raster(tmp_path / "g.tif", np.full((40, 40), 2, np.uint16), nodata=0)
    with pytest.raises(RasterError, match="another grid"):
        build_dataset(cube, other_grid, tmp_path / "x.zip")
    with pytest.raises(InvalidInputError, match=r"class code\(s\) \[3, 4, 8\]"):
        build_dataset(cube, slovenia / "lulc.tif", tmp_path / "x.zip", classes=ClassList.parse("2 forest"))
    assert not (tmp_path / "x.zip").exists()
    with pytest.raises(InvalidInputError, match="multiple of the tile size"):
        build_dataset(cube, slovenia / "lulc.tif", tmp_path / "x.zip", tile_size=8, block_size=12)


@pytest.mark.parametrize("tile_size", [0, -3])
def test_a_tile_size_below_one_is_refused_by_name(tmp_path: Path, cube: Path, slovenia: Path, tile_size: int) -> None:
    """Found by hand: `eo dataset --tile-size 0` crashed with ZeroDivisionError; -3 was blamed
    on the block size."""
    with pytest.raises(InvalidInputError, match=rf"tile size must be at least 1 pixel, not {tile_size}"):
        build_dataset(cube, slovenia / "lulc.tif", tmp_path / "x.zip", tile_size=tile_size)
    assert not (tmp_path / "x.zip").exists()


def test_an_invalid_manifest_is_named_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", '{"format": "eotrust-dataset/1"}')
    with pytest.raises(InvalidInputError) as err:
        TrainingDataset(path)
    assert "\n" not in str(err.value)
    assert err.value.message.startswith(
        f"{path} has an invalid manifest: field "
    )  # the field, not "1 validation error"


def test_a_file_planted_in_the_dataset_cache_is_not_trained_on(tmp_path: Path) -> None:
    """`train --dataset CID` used `<home>/datasets/CID.zip` if it existed, unchecked: whoever
    could write the home trained the model on its own data under the genuine CID, and the owner
    signed that lineage into the model package (an audit). A cached file is re-hashed now and
    fetched again when it is not the CID's."""
    from eotrust.store import LocalStore

    store = LocalStore(tmp_path / "store")
    cid = store.put_bytes(b"the genuine archive")
    cache = tmp_path / "datasets"
    cache.mkdir()
    (cache / f"{cid}.zip").write_bytes(b"a planted archive")
    assert fetch_dataset(store, cid, cache).read_bytes() == b"the genuine archive"
    assert fetch_dataset(store, cid, cache).read_bytes() == b"the genuine archive"  # the cache, checked
