"""Attack: a model package that is a ZIP bomb. A package arrives from another organisation
(``eotrust model import``, ``model verify``, the registry); its three entries were read whole
into memory, after ``testzip`` had inflated every one, whatever size they declared: a graph
declared as 3 GB (a truthful bomb inflates 3 GB of zeros from about 3 MB) would take 3 GB of
memory and seconds of CPU before anything said no. Each entry's declared size is now checked
against its limit first (a single-file ONNX graph cannot pass protobuf's 2 GiB; a manifest or a
signature is small), and nothing larger is inflated; zipfile never yields more than an entry
declares, so a size that lies is caught by the CRC."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from core_cli import cli, refused, tiny_package

from eotrust.errors import IntegrityError
from eotrust.settings import Settings


def _declaring(src: Path, dest: Path, entry: str, size: int) -> Path:
    """``src`` with ``entry``'s uncompressed size set to ``size`` in its local header and in the
    central directory (what a bomb declares; the bytes stay the same)."""
    data = bytearray(src.read_bytes())
    name = entry.encode()
    # (signature, offset of the name's length, of the name, of the uncompressed size)
    for magic, length_at, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        at = data.find(magic)
        while at >= 0:
            (n,) = struct.unpack_from("<H", data, at + length_at)
            if data[at + name_at : at + name_at + n] == name:
                struct.pack_into("<I", data, at + size_at, size)
                break
            at = data.find(magic, at + 4)
        assert at >= 0, (entry, magic)
    dest.write_bytes(bytes(data))
    return dest


@pytest.mark.parametrize(
    "entry, size",
    [("model.onnx", 3_000_000_000), ("manifest.json", 200 * 2**20), ("signature.json", 50 * 2**20)],
)
def test_an_entry_declared_over_its_limit_is_refused_unread(tmp_path: Path, entry: str, size: int) -> None:
    from eotrust.ml.package import read_package

    bomb = _declaring(tiny_package(), tmp_path / "bomb.zip", entry, size)
    with pytest.raises(IntegrityError, match=f"{entry} declares {size} bytes"):
        read_package(bomb)


def test_an_entry_that_lies_about_its_size_fails_its_check(tmp_path: Path) -> None:
    from eotrust.ml.package import read_package

    liar = _declaring(tiny_package(), tmp_path / "liar.zip", "model.onnx", 10)
    with pytest.raises(IntegrityError, match="CRC|declares|altered"):
        read_package(liar)


def test_model_import_of_a_bomb_is_one_line(tmp_path: Path, settings: Settings) -> None:
    bomb = _declaring(tiny_package(), tmp_path / "bomb.zip", "model.onnx", 3_000_000_000)
    error = refused(cli(settings.home, "model", "import", str(bomb)))
    assert "declares" in error.message


def test_a_training_dataset_whose_manifest_is_a_bomb_is_refused_unread(tmp_path: Path) -> None:
    """A dataset archive is another party's too (``train --dataset CID``)."""
    import zipfile

    from eotrust.eo.dataset import TrainingDataset
    from eotrust.errors import InvalidInputError

    honest = tmp_path / "dataset.zip"
    with zipfile.ZipFile(honest, "w") as zf:
        zf.writestr("manifest.json", "{}")
    bomb = _declaring(honest, tmp_path / "bomb.zip", "manifest.json", 3_000_000_000)
    with pytest.raises(InvalidInputError, match="declares 3000000000 bytes"):
        TrainingDataset(bomb)
