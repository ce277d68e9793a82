"""Bounds of the catalogue's numbers: the largest allowed values are stored and read back
exactly; one more, a negative one, or a huge one is a validation error naming the field —
never an overflow in the database driver — at construction, when a record is read from JSON,
and in the CLI (a clear one-line error, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import ValidationError

from eotrust.catalog.entries import (
    MAX_BYTES,
    MAX_CPUS,
    MAX_GPUS,
    MAX_MEMORY_MB,
    DatasetInfo,
    Kind,
    PlatformInfo,
    Record,
    ResultInfo,
    make_body,
)
from eotrust.catalog.service import Catalog
from eotrust.cid import cid_of_bytes
from eotrust.errors import InvalidInputError
from eotrust.party import Role, create_party
from eotrust.settings import Settings

CID = cid_of_bytes(b"x")
AGE = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"
HUGE = 10**30  # beyond 64 bits: SQLite cannot hold it


def _platform(**kw: int) -> PlatformInfo:
    return PlatformInfo(name="hpc", age_recipient=AGE, **kw)


def _result(size: int) -> ResultInfo:
    return ResultInfo(
        task="0x" + "1" * 40, name="classmap", cid=CID, plaintext_cid=CID, size=size, run_cid=CID, recipient=AGE
    )


def test_the_largest_allowed_numbers_are_catalogued_exactly(settings: Settings) -> None:
    catalog, owner = Catalog(settings), Account.create()
    platform = catalog.register(owner, _platform(cpus=MAX_CPUS, memory_mb=MAX_MEMORY_MB, gpus=MAX_GPUS))
    dataset = catalog.register(owner, DatasetInfo(title="big", cid=CID, size=MAX_BYTES))
    again = Catalog(settings)
    assert again.get(platform.id).body == platform.body
    read_platform, read_dataset = again.get(platform.id).narrow(PlatformInfo), again.get(dataset.id).narrow(DatasetInfo)
    assert (read_platform.body.memory_mb, read_dataset.body.size) == (MAX_MEMORY_MB, MAX_BYTES)
    assert [r.id for r in again.search(text="hpc", kind=Kind.PLATFORM)] == [platform.id]
    assert _result(MAX_BYTES).size == MAX_BYTES


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpus", MAX_CPUS + 1),
        ("cpus", HUGE),
        ("cpus", 0),
        ("memory_mb", MAX_MEMORY_MB + 1),
        ("memory_mb", HUGE),
        ("memory_mb", -1),
        ("gpus", MAX_GPUS + 1),
        ("gpus", HUGE),
        ("gpus", -1),
    ],
)
def test_platform_numbers_out_of_bounds_name_the_field(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        _platform(**{field: value})
    with pytest.raises(InvalidInputError, match=f"field {field}: Input should be"):
        make_body(PlatformInfo, name="hpc", age_recipient=AGE, **{field: value})


@pytest.mark.parametrize("size", [MAX_BYTES + 1, HUGE, -1])
def test_sizes_out_of_bounds_name_the_field(size: int) -> None:
    with pytest.raises(ValidationError, match="size"):
        DatasetInfo(title="t", cid=CID, size=size)
    with pytest.raises(ValidationError, match="size"):
        _result(size)


def test_a_signed_record_with_a_huge_number_is_refused_when_read() -> None:
    """A record made elsewhere (signed, so its id and signature hold) is still validated."""
    record = Record.sign(Kind.PLATFORM, _platform(), Account.create())
    raw = json.loads(record.to_json())
    raw["body"]["memory_mb"] = HUGE
    with pytest.raises(ValidationError, match="memory_mb"):
        Record.from_json(json.dumps(raw))


def test_cli_says_which_number_is_too_large(settings: Settings) -> None:
    create_party(settings, "plat", Role.PLATFORM_OWNER)
    exe = Path(sys.executable).parent / "eotrust"
    proc = subprocess.run(
        [
            str(exe),
            "--home",
            str(settings.home_dir),
            "catalog",
            "register-platform",
            "--name",
            "hpc",
            "--memory-mb",
            str(MAX_MEMORY_MB + 1),
            "--as",
            "plat",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    said = " ".join(proc.stderr.split())
    assert "invalid platform field memory_mb: Input should be less than or equal to 2147483647" in said, said
    assert Catalog(settings).list(Kind.PLATFORM) == []
