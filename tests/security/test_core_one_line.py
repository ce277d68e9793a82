"""Bad input → one error line, never a traceback: each command below ended in a Python
traceback (or blamed the wrong thing) on main."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from core_cli import cli, refused, tiny_package

from eotrust.settings import Settings


@pytest.fixture(scope="module")
def package() -> Path:
    return tiny_package()


def test_workflow_validate_non_utf8(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "wf.yaml"
    bad.write_bytes(b"name: w\ndescription: \xff\xfe latin-1 \xe9\n")
    exc = refused(cli(settings.home, "workflow", "validate", str(bad)))
    assert "UTF-8" in exc.message


def test_store_get_into_a_directory(settings: Settings, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"hello")
    cid = cli(settings.home, "store", "put", str(src)).stdout.strip().splitlines()[-1]
    out = tmp_path / "out"
    out.mkdir()
    result = cli(settings.home, "store", "get", cid, "-o", str(out))
    if result.exit_code == 0:  # writing into a folder keeps the CID as the name
        assert (out / cid).read_bytes() == b"hello"
    else:
        refused(result)


def test_store_put_a_directory_or_fifo_says_what_is_wrong(settings: Settings, tmp_path: Path) -> None:
    exc = refused(cli(settings.home, "store", "put", str(tmp_path)))
    assert "directory" in exc.message and "does not exist" not in exc.message
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    exc = refused(cli(settings.home, "store", "put", str(fifo)))
    assert "not a regular file" in exc.message


def test_model_register_truncated_zip_is_named_as_a_package(settings: Settings, package: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(package.read_bytes()[: package.stat().st_size // 2])
    exc = refused(cli(settings.home, "model", "register", str(truncated)))
    assert "checkpoint" not in exc.message.lower() and "package" in exc.message


def _scene(path: Path, width: int, height: int) -> Path:
    big = width * height > 1 << 20
    layout = (
        # small tiles: a header declaring one huge block is refused before any memory check
        # (limits.check_raster_layout); this scene is too large only for the strips scoring needs
        {"tiled": True, "blockxsize": 4096, "blockysize": 64, "BIGTIFF": "YES"}
        if big
        else {"tiled": True, "blockxsize": 64, "blockysize": 64, "compress": "deflate"}
    )
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=Affine(10, 0, 0, 0, -10, 0),
        sparse_ok=True,
        **layout,
    ) as dst:
        if not big:
            dst.write(np.random.default_rng(0).integers(0, 255, (3, height, width)).astype(np.uint8))
    return path


def test_model_score_corrupt_tiles(settings: Settings, package: Path, tmp_path: Path) -> None:
    scene = _scene(tmp_path / "scene.tif", 256, 256)
    data = bytearray(scene.read_bytes())
    for i in range(len(data) // 3, len(data) - 64, 97):  # scribble over compressed tile data
        data[i] = (data[i] + 101) % 256
    scene.write_bytes(bytes(data))
    out = tmp_path / "classes.tif"
    exc = refused(cli(settings.home, "model", "score", str(package), str(scene), "-o", str(out)))
    assert str(scene) in exc.message
    assert not out.exists()


def test_model_score_scene_too_large_for_memory(settings: Settings, package: Path, tmp_path: Path) -> None:
    scene = _scene(tmp_path / "huge.tif", 200_000_000, 64)  # sparse tiles: under a megabyte on disk
    out = tmp_path / "classes.tif"
    exc = refused(cli(settings.home, "model", "score", str(package), str(scene), "-o", str(out)))
    assert "memory" in exc.message
    assert not out.exists()
