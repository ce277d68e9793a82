"""Attack: the holder of the shared catalogue edits the model registry's rows (`model_packages`:
the metrics, lineage and manifest columns). Before the fix `model list/show` printed the edited
values and `model verify` still passed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from core_cli import cli, refused, repacked, tiny_package

from eotrust.ml.registry import Registry
from eotrust.settings import Settings

FAKE_RUN = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    v1 = tiny_package()
    return v1, repacked(
        v1, tmp_path_factory.mktemp("reg-attack") / "v2.zip", metrics={"miou": 0.5}, created="2024-06-01T12:00:00Z"
    )


def _db(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.catalog_database_url.removeprefix("sqlite:///"))


def _edit(settings: Settings, column: str, value: str, cid: str) -> None:
    with _db(settings) as db:
        db.execute(f"UPDATE model_packages SET {column} = ? WHERE cid = ?", (value, cid))


def _registered(settings: Settings, packages: tuple[Path, Path]) -> tuple[str, str]:
    reg = Registry(settings)
    return reg.register(packages[0]).cid, reg.register(packages[1]).cid


def _shown_or_refused(settings: Settings, *args: str) -> str:
    """What a command prints; a refusal must be one line naming the edited row."""
    result = cli(settings.home, *args)
    if result.exit_code == 0:
        return result.stdout
    return "REFUSED " + refused(result).message


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("metrics", json.dumps({"miou": 0.99})),
        ("lineage", json.dumps({"training_data": [FAKE_RUN]})),
        ("description", "the best model ever"),
        ("owner", "0x000000000000000000000000000000000000dEaD"),
    ],
)
def test_edited_registry_columns_are_not_believed(
    settings: Settings, packages: tuple[Path, Path], column: str, value: str
) -> None:
    v1, _ = _registered(settings, packages)
    _edit(settings, column, value, v1)
    for args in (("model", "list", "--json"), ("model", "show", "tiny:1", "--json")):
        shown = _shown_or_refused(settings, *args)
        assert "0.99" not in shown and FAKE_RUN not in shown and "best model ever" not in shown and "dEaD" not in shown
        assert not shown.startswith("REFUSED") or v1 in shown
    refused(cli(settings.home, "model", "verify", "tiny:1"))


def test_edited_manifest_column_is_caught(settings: Settings, packages: tuple[Path, Path]) -> None:
    v1, _ = _registered(settings, packages)
    with _db(settings) as db:
        (manifest,) = db.execute("SELECT manifest FROM model_packages WHERE cid = ?", (v1,)).fetchone()
    doc = json.loads(manifest)
    doc["metrics"] = {"miou": 0.99}
    _edit(settings, "manifest", json.dumps(doc, sort_keys=True, separators=(",", ":")), v1)
    _edit(settings, "metrics", json.dumps({"miou": 0.99}), v1)
    assert "0.99" not in _shown_or_refused(settings, "model", "show", "tiny:1", "--json")
    refused(cli(settings.home, "model", "verify", "tiny:1"))


def test_another_packages_signed_row_under_this_cid_is_caught(settings: Settings, packages: tuple[Path, Path]) -> None:
    v1, v2 = _registered(settings, packages)
    with _db(settings) as db:
        row = db.execute(
            "SELECT description, created, metrics, lineage, signature, manifest FROM model_packages WHERE cid = ?",
            (v2,),
        ).fetchone()
        db.execute(
            "UPDATE model_packages SET description=?, created=?, metrics=?, lineage=?, signature=?, manifest=? "
            "WHERE cid = ?",
            (*row, v1),
        )
    exc = refused(cli(settings.home, "model", "verify", "tiny:1"))
    assert v1 in exc.message


def _row_names(settings: Settings, cid: str, other: str) -> None:
    """The row of ``cid`` now names the stored object ``other`` (v0, as rows keep CIDs)."""
    from eotrust.cid import to_v0

    with _db(settings) as db:
        db.execute("UPDATE model_packages SET cid = ? WHERE cid = ?", (to_v0(other), to_v0(cid)))


def test_an_export_of_a_row_naming_other_bytes_leaves_the_destination_as_it_was(
    settings: Settings, packages: tuple[Path, Path], tmp_path: Path
) -> None:
    """Before, a package that failed its check on the way out was written over the destination
    and then removed: the user's file (or, as root, /dev/null) was gone."""
    registry = Registry(settings)
    v1 = registry.register(packages[0]).cid
    not_a_package = tmp_path / "notes.txt"
    not_a_package.write_text("not a model\n")
    _row_names(settings, v1, registry.store.put_file(not_a_package))
    dest = tmp_path / "exports" / "mine.zip"
    dest.parent.mkdir()
    dest.write_text("the user's own file\n")
    refused(cli(settings.home, "model", "export", "tiny:1", "-o", str(dest)))
    assert dest.read_text() == "the user's own file\n"
    assert [p.name for p in dest.parent.iterdir()] == ["mine.zip"]  # no part left behind


def test_an_export_of_a_row_naming_another_package_is_refused(
    settings: Settings, packages: tuple[Path, Path], tmp_path: Path
) -> None:
    """Before, the row of tiny:1 pointed at tiny:2's bytes (stored, valid, signed) exported them as tiny:1."""
    registry = Registry(settings)
    v1 = registry.register(packages[0]).cid
    _row_names(settings, v1, registry.store.put_file(packages[1]))
    dest = tmp_path / "tiny-1.zip"
    exc = refused(cli(settings.home, "model", "export", "tiny:1", "-o", str(dest)))
    assert "manifest is not the one inside the package" in exc.message
    assert not dest.exists()
