"""A data owner's private index of its files: found by CID, re-hashed, refused when changed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flow_world import SAMPLE

from eotrust.backends import Backends
from eotrust.errors import IntegrityError, NotFoundError
from eotrust.party import Role, create_party
from eotrust.roles.data_owner.holdings import locate, register_dataset_file

if TYPE_CHECKING:
    from eotrust.settings import Settings


def test_locate_checks_the_file_still_is_what_was_registered(settings: Settings, tmp_path: Path) -> None:
    owner = create_party(settings, "owner", Role.DATA_OWNER)
    file = tmp_path / "lulc.tif"
    shutil.copy(SAMPLE / "lulc.tif", file)
    record = register_dataset_file(Backends(settings), owner, file, title="labels")
    cid = record.body.cid
    assert locate(settings, "owner", cid) == file.resolve()
    with pytest.raises(NotFoundError, match="holds no file"):
        locate(settings, "someone-else", cid)
    file.write_bytes(file.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="changed since it was registered"):
        locate(settings, "owner", cid)
    file.unlink()
    with pytest.raises(NotFoundError, match="is gone"):
        locate(settings, "owner", cid)


def test_collected_results_are_named_for_their_kind(tmp_path: Path) -> None:
    """`classmap_png` is written as classmap.png beside classmap.tif, never classmap_png.png."""
    from eotrust.roles.submitter.collect import _named_for_its_kind

    png, tif, blob = tmp_path / "classmap_png", tmp_path / "classmap", tmp_path / "notes"
    png.write_bytes(b"\x89PNG\r\n\x1a\n....")
    tif.write_bytes(b"II*\x00....")
    blob.write_bytes(b"plain words")
    assert _named_for_its_kind(png).name == "classmap.png"
    assert _named_for_its_kind(tif).name == "classmap.tif"
    assert _named_for_its_kind(blob).name == "notes"
    again = tmp_path / "classmap_png"
    again.write_bytes(b"\x89PNG\r\n\x1a\n....")
    assert _named_for_its_kind(again).name == "classmap_png.png"  # classmap.png is taken
