"""Hostile training-dataset archives (an audit of ``eotrust train --dataset``): each is a small
real archive rewritten — its manifest, an array's ``zarr.json`` or a chunk — and each must be
refused in one line, before it costs memory, never with a traceback."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eo_world import SLOVENIA
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.eo.clouds import clean_cube
from eotrust.eo.cube import Source, stack
from eotrust.eo.dataset import TrainingDataset, build_dataset
from eotrust.errors import EotrustError, IntegrityError, InvalidInputError

runner = CliRunner()


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("genuine")
    c = stack([Source(SLOVENIA / "ndvi.tif", band="ndvi"), Source(SLOVENIA / "cloud_mask.tif", band="cloud_mask")])
    clean_cube(c, tmp / "cube.tif")
    build_dataset(tmp / "cube.tif", SLOVENIA / "lulc.tif", tmp / "ds.zip", tile_size=10)
    return tmp / "ds.zip"


def rewrite(src: Path, dest: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    with zipfile.ZipFile(src) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    change(entries)
    with zipfile.ZipFile(dest, "w") as zf:
        for name, data in sorted(entries.items()):
            zf.writestr(name, data)
    return dest


def edit_json(entries: dict[str, bytes], name: str, edit: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(entries[name])
    edit(doc)
    entries[name] = json.dumps(doc).encode()


def zstd_zeros(size: int) -> bytes:
    """A zstd frame of ``size`` zero bytes made of RLE blocks (4 bytes per 128 KiB): a bomb
    written without ever holding ``size`` bytes."""
    out = bytearray(b"\x28\xb5\x2f\xfd\xe0" + struct.pack("<Q", size))  # single segment, 8-byte size
    block = 128 * 1024
    while size:
        n = min(block, size)
        size -= n
        header = (1 if size == 0 else 0) | (1 << 1) | (n << 3)  # last?, RLE, block size
        out += header.to_bytes(3, "little") + b"\x00"
    return bytes(out)


def refused(path: Path, error: type[EotrustError] = InvalidInputError) -> str:
    with pytest.raises(error) as err:
        with TrainingDataset(path) as ds:
            for split in ("train", "val", "test"):
                ds.tiles(split)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def lying_bomb(entries: dict[str, bytes]) -> None:
    """Manifest and arrays agree on 1 tile of 300 dates x 1000 x 1000 px: 1.2 GB decoded, from
    a 37 KB chunk."""
    t, s = 300, 1000

    def manifest(m: dict[str, Any]) -> None:
        m["dates"] = [m["dates"][0]] * t
        m["tile_size"] = s
        m["tiles"] = [{**m["tiles"][0], "index": 0, "split": "train"}]

    edit_json(entries, "manifest.json", manifest)
    edit_json(entries, "data/x/zarr.json", lambda j: j.update(shape=[1, t, 1, s, s]))
    edit_json(
        entries,
        "data/x/zarr.json",
        lambda j: j["chunk_grid"]["configuration"].update(chunk_shape=[1, t, 1, s, s]),
    )
    edit_json(entries, "data/y/zarr.json", lambda j: j.update(shape=[1, s, s]))
    edit_json(entries, "data/y/zarr.json", lambda j: j["chunk_grid"]["configuration"].update(chunk_shape=[1, s, s]))
    for name in [n for n in entries if "/c/" in n]:
        del entries[name]
    entries["data/x/c/0/0/0/0/0"] = zstd_zeros(t * s * s * 4)
    entries["data/y/c/0/0/0"] = zstd_zeros(s * s)


def test_a_zstd_bomb_is_refused_from_its_metadata_before_any_chunk_is_read(genuine: Path, tmp_path: Path) -> None:
    """Before (an audit): 47 KB of archive made training use 3.3 GB, then a MemoryError traceback."""
    bomb = rewrite(genuine, tmp_path / "bomb.zip", lying_bomb)
    assert bomb.stat().st_size < 100_000
    script = (
        "import sys\n"
        "from eotrust.eo.dataset import TrainingDataset\n"
        "from eotrust.errors import EotrustError\n"
        "try:\n"
        "    with TrainingDataset(sys.argv[1]) as ds:\n"
        "        ds.tiles('train')\n"
        "except EotrustError as e:\n"
        "    print('refused:', e)\n"
        # VmHWM: this process image's peak (ru_maxrss keeps the forking parent's, a big pytest worker)
        "print('peak_kb', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))\n"
    )
    r = subprocess.run([sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("refused:") and "1,201,000,000 bytes" in lines[0], r.stdout
    assert int(lines[1].split()[1]) < 500_000  # KB, imports included: nothing near the 1.2 GB was allocated


def test_a_chunk_that_inflates_past_its_declared_size_is_corrupt(genuine: Path, tmp_path: Path) -> None:
    """The metadata are genuine but tile 0's chunk inflates to 100 MB: decoding stops at the
    tile's 27 KB."""

    def swap(entries: dict[str, bytes]) -> None:
        entries["data/x/c/0/0/0/0/0"] = zstd_zeros(100 * 2**20)

    message = refused(rewrite(genuine, tmp_path / "inflates.zip", swap), IntegrityError)
    assert "the x chunk of tile 0 is corrupt" in message


def test_the_whole_dataset_must_fit_the_memory_budget(genuine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("eotrust.eo.dataset.memory_budget", lambda: 1_000_000)
    assert "past the memory budget of 1,000,000" in refused(genuine)


def _set(name: str, **values: Any) -> Callable[[dict[str, bytes]], None]:
    return lambda entries: edit_json(entries, name, lambda j: j.update(values))


def _tiles(edit: Callable[[list[dict[str, Any]]], None]) -> Callable[[dict[str, bytes]], None]:
    return lambda entries: edit_json(entries, "manifest.json", lambda m: edit(m["tiles"]))


def _drop_data(entries: dict[str, bytes]) -> None:
    for name in [n for n in entries if n.startswith("data/")]:
        del entries[name]


def _zarr_v2(entries: dict[str, bytes]) -> None:
    for name in [n for n in entries if n.endswith("zarr.json")]:
        del entries[name]
    entries["data/.zgroup"] = b'{"zarr_format": 2}'
    entries["data/x/.zarray"] = json.dumps(
        {
            "zarr_format": 2,
            "shape": [66, 68, 1, 10, 10],
            "chunks": [1, 68, 1, 10, 10],
            "dtype": "|O",
            "compressor": None,
            "fill_value": None,
            "filters": [{"id": "pickle"}],
            "order": "C",
        }
    ).encode()


def _truncate(entries: dict[str, bytes]) -> None:
    entries["data/x/c/0/0/0/0/0"] = entries["data/x/c/0/0/0/0/0"][:-40]


def _sharded(entries: dict[str, bytes]) -> None:
    inner = {"name": "bytes", "configuration": {"endian": "little"}}
    edit_json(
        entries,
        "data/x/zarr.json",
        lambda j: j.update(
            codecs=[
                {
                    "name": "sharding_indexed",
                    "configuration": {
                        "chunk_shape": [1, 1, 1, 1, 1],
                        "codecs": [inner],
                        "index_codecs": [inner, {"name": "crc32c"}],
                        "index_location": "end",
                    },
                }
            ]
        ),
    )


def _y_class(entries: dict[str, bytes]) -> None:
    from numcodecs import Zstd  # type: ignore[import-untyped]

    entries["data/y/c/0/0/0"] = bytes(Zstd(level=3).encode(bytes([7]) * 100))


CASES: dict[str, tuple[Callable[[dict[str, bytes]], None], type[EotrustError], str]] = {
    "no data group": (_drop_data, InvalidInputError, "does not hold a zarr v3 training dataset"),
    "zarr v2 pickle layout": (_zarr_v2, InvalidInputError, "does not hold a zarr v3 training dataset"),
    "truncated chunk": (_truncate, IntegrityError, "the x chunk of tile 0 is corrupt"),
    "sharding": (_sharded, InvalidInputError, "only BytesCodec and ZstdCodec"),
    "float64 x": (_set("data/x/zarr.json", data_type="float64"), InvalidInputError, "the manifest says float32"),
    "shape unlike the manifest": (
        _set("data/x/zarr.json", shape=[66, 68, 2, 10, 10]),
        InvalidInputError,
        "the manifest says float32 (66, 68, 1, 10, 10)",
    ),
    "negative tile index": (_tiles(lambda t: t[0].update(index=-1)), InvalidInputError, "tile indices must be 0..65"),
    "tile index past the array": (
        _tiles(lambda t: t[0].update(index=66)),
        InvalidInputError,
        "tile indices must be 0..65",
    ),
    "one tile listed 10,000 times": (
        _tiles(lambda t: t.extend([t[0]] * 10_000)),
        InvalidInputError,
        "each once",
    ),
    "normalisation of no band": (
        lambda e: edit_json(e, "manifest.json", lambda m: m.update(normalisation={"mean": [], "std": []})),
        InvalidInputError,
        "0 means and 0 deviations for 1 band",
    ),
    "infinite normalisation": (
        lambda e: edit_json(e, "manifest.json", lambda m: m["normalisation"].update(std=[float("inf")])),
        InvalidInputError,
        "must be finite",
    ),
    "class past the classes": (_y_class, IntegrityError, "class index past the 4 classes"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_malformed_archive_is_refused_in_one_line(genuine: Path, tmp_path: Path, case: str) -> None:
    change, error, expected = CASES[case]
    assert expected in refused(rewrite(genuine, tmp_path / "bad.zip", change), error)


def test_train_refuses_a_bomb_with_one_line_and_a_non_zero_exit(genuine: Path, tmp_path: Path) -> None:
    bomb = rewrite(genuine, tmp_path / "bomb.zip", lying_bomb)
    home = ["--home", str(tmp_path / "home")]
    args = [*home, "train", "--dataset", str(bomb), "--model-def", "temporal_cnn_quick", "-o", str(tmp_path / "m.pt")]
    r = runner.invoke(app, args)
    assert r.exit_code != 0 and isinstance(r.exception, InvalidInputError), r.output
    assert "\n" not in str(r.exception) and "at most 536,870,912 are read" in str(r.exception)
    assert not (tmp_path / "m.pt").exists()


def test_the_genuine_archive_still_reads(genuine: Path) -> None:
    with TrainingDataset(genuine) as ds:
        x, y = ds.tile(0)
        assert x.shape == (68, 1, 10, 10) and x.dtype.name == "float32" and y.dtype.name == "uint8"
        assert ds.tiles("train")[0].shape[1:] == (68, 10, 10)
