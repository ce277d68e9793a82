"""Attack: the holder of a shared catalogue database (or anyone who can write one row of it)
inserts ONE row that fails its check — a bad signature, a body that is not JSON, a wrong id, an
oversized body, an unreadable column. Before the fix every listing and search that met the row
failed, for everyone: `Catalog.list`/`search`/`select`, `eotrust catalog search` (and `--json`),
`GET /catalog/datasets`, `/catalog/search`, the STAC search, items and collections, and
`/processes` — a denial of service by one row. Now a listing shows every good record and leaves
the row out, saying so (``Listing.skipped``; a warning line on the CLI; an ``Eotrust-Skipped``
header, a ``skipped`` member in STAC, and a server log line), pages keep their size, and reading
that one record by its id still fails, naming it."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from core_cli import cli
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from eotrust.catalog.entries import ApplicationInfo, DatasetInfo, Kind, Record
from eotrust.catalog.query import Filter
from eotrust.catalog.records import MAX_BODY_CHARS, DatasetRow
from eotrust.catalog.service import Catalog
from eotrust.cid import cid_of_bytes
from eotrust.errors import IntegrityError
from eotrust.settings import Settings, load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_client import in_process  # noqa: E402

SLOVENIA = (14.3, 45.9, 14.6, 46.1)
GOOD = 5


def _info(title: str) -> DatasetInfo:
    return DatasetInfo(title=title, cid=cid_of_bytes(title.encode()), size=1, bbox=SLOVENIA, keywords=["scene"])


def _bad_signature(row: DatasetRow) -> None:
    row.signature = "0x" + "11" * 65


def _garbage_body(row: DatasetRow) -> None:
    row.body = "garbage {"


def _body_not_an_object(row: DatasetRow) -> None:
    row.body = "[1, 2]"


def _deep_body(row: DatasetRow) -> None:
    row.body = "[" * 100_000


def _wrong_cid(row: DatasetRow) -> None:
    row.id = cid_of_bytes(b"another record")


def _huge_body(row: DatasetRow) -> None:
    row.body = " " * (MAX_BODY_CHARS + 1)


def _edited_column(row: DatasetRow) -> None:
    row.title = "scene edited"


ROW_EDITS: dict[str, Callable[[DatasetRow], None]] = {
    "bad signature": _bad_signature,
    "garbage body": _garbage_body,
    "body not an object": _body_not_an_object,
    "deeply nested body": _deep_body,
    "wrong CID": _wrong_cid,
    "huge body": _huge_body,
    "edited column": _edited_column,
}
#: Edits made with sqlite3 after the row is in: values SQLAlchemy itself would never write.
RAW_EDITS = {
    "unreadable JSON column": "UPDATE catalog_datasets SET bands = '{not json' WHERE id = ?",
    "a number for a text column": "UPDATE catalog_datasets SET created = 12345 WHERE id = ?",
    "no owner": "UPDATE catalog_datasets SET owner = '' WHERE id = ?",
}
BAD_ROWS = [*ROW_EDITS, *RAW_EDITS]


def _plant(settings: Settings, how: str) -> tuple[list[Record[DatasetInfo]], str]:
    """Five good dataset records and, between the second and the third, one bad row written
    straight into the database; the good records (in listing order) and the bad row's id."""
    catalog = Catalog(settings)
    owner = Account.create()
    good = [
        catalog.register(owner, _info(f"scene {i}"), created=datetime(2020, 1, 1 + i, tzinfo=UTC)) for i in range(GOOD)
    ]
    signed = Record.sign(Kind.DATASET, _info("scene bad"), owner, created=datetime(2020, 1, 2, 12, tzinfo=UTC))
    row = DatasetRow.from_record(signed)
    assert isinstance(row, DatasetRow)
    if how in ROW_EDITS:
        ROW_EDITS[how](row)
    bad = row.id
    engine = create_engine(settings.catalog_database_url)
    try:
        with Session(engine) as session, session.begin():
            session.add(row)
    finally:
        engine.dispose()
    if how in RAW_EDITS:
        with sqlite3.connect(settings.catalog_database_url.removeprefix("sqlite:///")) as db:
            db.execute(RAW_EDITS[how], (bad,))
    return good, bad


@pytest.fixture(params=BAD_ROWS)
def planted(request: pytest.FixtureRequest, settings: Settings) -> tuple[Settings, list[str], str]:
    good, bad = _plant(settings, request.param)
    return settings, [r.id for r in good], bad


def test_the_library_lists_every_good_record_and_names_the_bad_row(
    planted: tuple[Settings, list[str], str],
) -> None:
    settings, good, bad = planted
    catalog = Catalog(settings)
    for found in (
        catalog.list(Kind.DATASET),
        catalog.search(text="scene"),
        catalog.search(kind=Kind.DATASET, bbox=SLOVENIA),
        catalog.select(Kind.DATASET, Filter(bbox=SLOVENIA)),
    ):
        assert [r.id for r in found] == good
        assert [s.id for s in found.skipped] == [bad]
        assert found.skipped[0].kind is Kind.DATASET and found.skipped[0].reason
    # paging stays consistent: pages of two hold at most two, and together every good record once
    pages = [catalog.list(Kind.DATASET, limit=2, offset=offset) for offset in range(0, GOOD + 1, 2)]
    assert all(len(p) <= 2 for p in pages)
    assert [r.id for p in pages for r in p] == good
    assert [s.id for p in pages for s in p.skipped] == [bad]
    # the one record read by its id still fails, naming it
    with pytest.raises(IntegrityError) as err:
        catalog.get(bad)
    assert bad in str(err.value)


def test_the_cli_search_lists_the_good_records_and_warns_once(planted: tuple[Settings, list[str], str]) -> None:
    settings, good, bad = planted
    shown = cli(settings.home, "catalog", "search")
    assert shown.exit_code == 0, shown.output
    assert "Traceback" not in shown.output
    assert f"{GOOD} catalogue record(s)" in shown.stdout and "scene bad" not in shown.stdout
    warning = [line for line in shown.stderr.splitlines() if line.strip()]
    assert len(warning) == 1 and "1 catalogue record" in warning[0] and bad in warning[0], shown.stderr
    as_json = cli(settings.home, "catalog", "search", "--text", "scene", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert [r["id"] for r in json.loads(as_json.stdout)] == good
    assert bad in as_json.stderr and len(as_json.stderr.strip().splitlines()) == 1


@pytest.fixture
def served(planted: tuple[Settings, list[str], str]) -> Iterator[tuple[TestClient, list[str], str]]:
    settings, good, bad = planted
    with in_process(settings) as client:
        yield client, good, bad


def test_the_rest_listings_leave_the_row_out_and_say_so(
    served: tuple[TestClient, list[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    client, good, bad = served
    with caplog.at_level(logging.WARNING):
        for url in ("/catalog/datasets", "/catalog/search", "/catalog/search?kind=dataset&text=scene"):
            r = client.get(url)
            assert r.status_code == 200, (url, r.text)
            assert [rec["id"] for rec in r.json()] == good, url
            assert r.headers["Eotrust-Skipped"] == "1", url
    assert any(bad in m and "left out" in m for m in caplog.messages), caplog.messages
    # a page of two holds at most two, and the next links reach every good record once
    seen: list[str] = []
    page_url: str | None = "/catalog/datasets?limit=2"
    while page_url:
        r = client.get(page_url)
        assert r.status_code == 200 and len(r.json()) <= 2, r.text
        seen += [rec["id"] for rec in r.json()]
        link = r.headers.get("Link")
        page_url = link.split(">", 1)[0].lstrip("<") if link else None
    assert seen == good
    # the one record read by its id still fails, naming it (not a 500)
    one = client.get(f"/catalog/records/{bad}")
    assert one.status_code == 422 and bad in one.text


def test_stac_search_items_and_collections_leave_the_row_out_and_say_so(
    served: tuple[TestClient, list[str], str],
) -> None:
    client, good, bad = served
    for url, params in (
        ("/stac/search", {}),
        ("/stac/search", {"collections": "datasets"}),
        ("/stac/search", {"bbox": "14,45.5,15,46.5"}),
        ("/stac/collections/datasets/items", {}),
    ):
        r = client.get(url, params={**params, "limit": 100})
        assert r.status_code == 200, (url, params, r.text)
        body = r.json()
        assert [f["id"] for f in body["features"]] == good, (url, params)
        assert [s["id"] for s in body["skipped"]] == [bad] and body["skipped"][0]["reason"]
        assert body["numberReturned"] == GOOD
    posted = client.post("/stac/search", json={"collections": ["datasets"], "limit": 2})
    assert posted.status_code == 200 and len(posted.json()["features"]) <= 2
    # a page of two holds at most two, and the next links reach every good record once
    seen: list[str] = []
    skipped: list[str] = []
    nxt: str | None = "/stac/search?collections=datasets&limit=2"
    while nxt:
        page = client.get(nxt.removeprefix("http://testserver"))
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["features"]) <= 2 and body["numberMatched"] == GOOD + 1  # rows matched, before the check
        seen += [f["id"] for f in body["features"]]
        skipped += [s["id"] for s in body["skipped"]]
        nxt = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert seen == good and skipped == [bad]
    for url in ("/stac/collections", "/stac/collections/datasets"):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["Eotrust-Skipped"] == "1", (url, r.text)
    # the one item read by its id still fails, naming it
    one = client.get(f"/stac/collections/datasets/items/{bad}")
    assert one.status_code == 422 and bad in one.text


def test_processes_are_listed_beside_a_bad_application_row(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home")
    catalog = Catalog(settings)
    owner = Account.create()
    app = catalog.register(owner, ApplicationInfo(name="good-app", workflow_cid=cid_of_bytes(b"w")))
    bad = catalog.register(owner, ApplicationInfo(name="bad-app", workflow_cid=cid_of_bytes(b"v")))
    with sqlite3.connect(settings.catalog_database_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE catalog_applications SET body = 'garbage' WHERE id = ?", (bad.id,))
    with in_process(settings) as client:
        for url in ("/catalog/applications", "/processes"):
            r = client.get(url)
            assert r.status_code == 200, (url, r.text)
            assert bad.id not in r.text and ("good-app" in r.text or app.id in r.text), (url, r.text)
