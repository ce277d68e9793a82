"""An output the file system will not take (a file where a folder must be, a folder where the
file must go) is one clear line and exit 1 from the real `eotrust` process: no traceback, and
nothing left behind (no temporary file beside the output)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fast_keys import SCRYPT_N

from eotrust.eo.cube import CubeWriter
from eotrust.eo.raster import Grid

EOTRUST = Path(sys.executable).parent / "eotrust"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "slovenia-s2-ndvi"


def eotrust(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOTRUST_") or k.startswith("EOTRUST_AGENT_")}
    env |= {"EOTRUST_HOME": str(tmp_path / "home"), "EOTRUST_KEYSTORE_SCRYPT_N": str(SCRYPT_N), "COLUMNS": "200"}
    return subprocess.run(
        [str(EOTRUST), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def one_line_refusal(proc: subprocess.CompletedProcess[str], path: str) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and path in errors[0], out


@pytest.mark.parametrize(
    "args",
    [
        ["eo", "stack", f"ndvi={SAMPLE / 'ndvi.tif'}", "-o", "{bad}/cube.tif"],
        ["eo", "labels", "--like", str(SAMPLE / "ndvi.tif"), "--raster", str(SAMPLE / "lulc.tif"), "-o", "{bad}/l.tif"],
        ["eo", "tile", str(SAMPLE / "ndvi.tif"), "-o", "{bad}/tiles", "--size", "32"],
        ["federated", "split", "--out", "{bad}/owners"],
    ],
    ids=["eo-stack", "eo-labels", "eo-tile", "federated-split"],
)
def test_an_output_under_a_file_is_one_line(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "a-file").write_text("in the way\n")
    proc = eotrust(tmp_path, *[a.replace("{bad}", "a-file") for a in args])
    one_line_refusal(proc, "a-file")
    assert (tmp_path / "a-file").read_text() == "in the way\n"


def test_store_get_into_a_path_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("in the way\n")
    put = eotrust(tmp_path, "store", "put", "a-file")
    assert put.returncode == 0, put.stderr
    proc = eotrust(tmp_path, "store", "get", put.stdout.strip(), "-o", "a-file/copy")
    one_line_refusal(proc, "a-file")


def test_a_cube_written_over_a_folder_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "cube.tif").mkdir()
    proc = eotrust(tmp_path, "eo", "stack", f"ndvi={SAMPLE / 'ndvi.tif'}", "-o", "cube.tif")
    one_line_refusal(proc, "cube.tif")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["cube.tif"]
    assert not any((tmp_path / "cube.tif").iterdir())


def test_the_cube_writer_removes_its_temporary_file_when_the_rename_fails(tmp_path: Path) -> None:
    dest = tmp_path / "cube.tif"
    dest.mkdir()
    from affine import Affine

    grid = Grid.of("EPSG:32633", Affine(10, 0, 500000, 0, -10, 5100000), 4, 4)
    with pytest.raises(IsADirectoryError):
        with CubeWriter(dest, grid, ["2020-01-01"], ["ndvi"]):
            pass
    assert [p.name for p in tmp_path.iterdir()] == ["cube.tif"]


@pytest.mark.parametrize("raster", [SAMPLE / "ndvi.tif", Path("not-a-raster.txt")], ids=["bad-size", "bad-raster"])
def test_a_refused_tiling_makes_no_folder(tmp_path: Path, raster: Path) -> None:
    (tmp_path / "not-a-raster.txt").write_text("text\n")
    proc = eotrust(tmp_path, "eo", "tile", str(raster), "-o", "tiles", "--size", "0")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "tiles").exists()


def test_a_tile_larger_than_memory_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A 5 MB sparse GeoTIFF declaring 200,000 x 200,000 pixels, cut into 100,000-pixel tiles:
    one tile would take 112 GiB (numpy's MemoryError, a traceback, before)."""
    import rasterio
    from affine import Affine

    huge = tmp_path / "huge.tif"
    profile = {
        "driver": "GTiff",
        "width": 200_000,
        "height": 200_000,
        "count": 3,
        "dtype": "float32",
        "crs": "EPSG:32633",
        "transform": Affine(10, 0, 500000, 0, -10, 5100000),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "sparse_ok": True,
    }
    with rasterio.open(huge, "w", **profile):
        pass
    proc = eotrust(tmp_path, "eo", "tile", "huge.tif", "-o", "tiles", "--size", "100000")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "too large" in proc.stderr and not (tmp_path / "tiles").exists()
