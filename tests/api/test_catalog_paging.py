"""The catalogue's listings are paged: at most ``limit`` (≤ 1,000) records per answer, a
``Link: <…>; rel="next"`` header to the next page, and only the rows of the page (and one to
know there is more) read and checked — before, every listing answered (and checked) the whole
catalogue for anyone who asked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from api_client import in_process
from eth_account import Account

from eotrust.catalog.entries import Body, DatasetInfo, Record
from eotrust.catalog.records import RecordRow
from eotrust.catalog.service import Catalog
from eotrust.settings import load_settings


def _next(link: str | None) -> str | None:
    found = re.fullmatch(r'<([^>]+)>; rel="next"', link or "")
    return found.group(1) if found else None


def test_listings_and_search_are_paged_and_read_only_their_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(home=tmp_path / "home")
    owner = Account.create()
    catalog = Catalog(settings)
    made = [
        catalog.register(
            owner,
            DatasetInfo(title=f"scene {i}", cid="QmWdL3popvi9diBi41SmFtDmmFugRovnuhoprE1o4ejov8", size=10 + i),
        )
        for i in range(30)
    ]
    checked: list[str] = []
    original = RecordRow.to_record

    def counted(row: RecordRow) -> Record[Body]:
        checked.append(row.id)
        return original(row)

    monkeypatch.setattr(RecordRow, "to_record", counted)
    with in_process(settings) as client:
        r = client.get("/catalog/datasets?limit=12")
        assert len(r.json()) == 12
        assert len(checked) <= 13, f"one page of 12 checked {len(checked)} rows"
        seen = [rec["id"] for rec in r.json()]
        url = _next(r.headers.get("link"))
        assert url == "/catalog/datasets?limit=12&offset=12"
        pages = 1
        while url:
            r = client.get(url)
            assert r.status_code == 200, r.text
            seen += [rec["id"] for rec in r.json()]
            url = _next(r.headers.get("link"))
            pages += 1
        assert pages == 3 and sorted(seen) == sorted(m.id for m in made) and len(set(seen)) == 30
        assert len(client.get("/catalog/datasets").json()) == 30  # the default page holds 1,000
        assert client.get("/catalog/datasets").headers.get("link") is None
        # search pages the same way
        r = client.get("/catalog/search?text=scene&limit=20")
        assert len(r.json()) == 20 and _next(r.headers.get("link")) == "/catalog/search?text=scene&limit=20&offset=20"
        assert len(client.get("/catalog/search?text=scene&limit=20&offset=20").json()) == 10
        # out of range: one 400 naming the parameter
        for bad in ("limit=0", "limit=1001", "offset=-1", "limit=x"):
            r = client.get(f"/catalog/datasets?{bad}")
            assert r.status_code == 400 and bad.split("=")[0] in r.json()["detail"], (bad, r.text)
