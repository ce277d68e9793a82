"""Attack: the holder of the shared catalogue edits a row so that a search no longer finds it
(a competitor's platform renamed in its column). Before the fix `catalog search --text`
silently left the record out; now the search reads the signed records and names the tampered
row (a warning line on stderr: the row is left out of the listing, which goes on). And
`catalog search --kind app` ended in a traceback."""

from __future__ import annotations

import json
import sqlite3

from core_cli import cli, refused

from eotrust.catalog.entries import PlatformInfo
from eotrust.catalog.service import Catalog
from eotrust.party import Role, create_party
from eotrust.settings import Settings


def _platform(settings: Settings) -> str:
    owner = create_party(settings, "plat", Role.PLATFORM_OWNER)
    return Catalog(settings).register(owner, PlatformInfo(name="gpu-farm", age_recipient=owner.age_recipient)).id


def test_search_reports_a_row_edited_out_of_the_results(settings: Settings) -> None:
    record_id = _platform(settings)
    found = cli(settings.home, "catalog", "search", "--text", "gpu-farm", "--json")
    assert found.exit_code == 0 and record_id in found.stdout
    with sqlite3.connect(settings.catalog_database_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE catalog_platforms SET name = 'hidden' WHERE id = ?", (record_id,))
    searched = cli(settings.home, "catalog", "search", "--text", "gpu-farm", "--json")
    assert searched.exit_code == 0 and json.loads(searched.stdout) == []
    assert record_id in searched.stderr and "left out" in searched.stderr


def test_search_text_is_a_plain_substring(settings: Settings) -> None:
    _platform(settings)
    assert Catalog(settings).search(text="%") == []
    assert len(Catalog(settings).search(text="GPU")) == 1


def test_unknown_kind_is_one_line(settings: Settings) -> None:
    exc = refused(cli(settings.home, "catalog", "search", "--kind", "app"))
    assert "dataset" in exc.message or "dataset" in (exc.hint or "")
