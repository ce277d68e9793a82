"""A data owner's private index of its files: found by CID, re-hashed, refused when changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flow_world import SAMPLE

from eotrust.errors import IntegrityError, NotFoundError
from eotrust.flow.holdings import locate, register_dataset_file
from eotrust.party import Role, create_party


def test_locate_checks_the_file_still_is_what_was_registered(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    owner = create_party(settings, "owner", Role.DATA_OWNER)
    file = tmp_path / "lulc.tif"
    shutil.copy(SAMPLE / "lulc.tif", file)
    record = register_dataset_file(settings, owner, file, title="labels")
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
