"""Attack: a party with a key uploads to ``POST /store`` until the server's disk reaches its
floor; from then on every party's uploads are refused (507), so one party has taken the store
from all the others. On the old code one party could store as much as the disk held. Now each
party stores at most ``store_max_mb_per_party`` through the server (403 with one line, counted
before the first byte by the declared length and while a chunked body streams; the same object
again costs nothing); another party still uploads."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_client import in_process, post_streamed  # noqa: E402

from eotrust.catalog.api_keys import create_api_key  # noqa: E402
from eotrust.party import Role, create_party  # noqa: E402
from eotrust.settings import load_settings  # noqa: E402

MIB = 1024 * 1024


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(total // size):
        yield bytes([i % 251]) * size


def test_one_party_cannot_take_the_store_from_the_others(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", store_max_mb_per_party=5)
    keys = {
        name: create_api_key(settings, party=create_party(settings, name, Role.DATA_OWNER), scopes=["*"])[0]
        for name in ("olga", "otto")
    }
    with in_process(settings) as client:
        olga = {"X-API-Key": keys["olga"]}
        first = client.post("/store", content=b"\1" * (2 * MIB), headers=olga)
        assert first.status_code == 201, first.text
        again = client.post("/store", content=b"\1" * (2 * MIB), headers=olga)  # the same object: counted once
        assert again.status_code == 201 and again.json()["cid"] == first.json()["cid"]
        assert client.post("/store", content=b"\2" * (3 * MIB), headers=olga).status_code == 201  # 5 of 5 MiB
        r = client.post("/store", content=b"\3" * 1024, headers=olga)  # by its declared length
        assert r.status_code == 403, r.text
        detail = r.json()["detail"]
        assert "store_max_mb_per_party" in detail and "olga" in detail and "\n" not in detail
        r, pulled = post_streamed(client, "/store", _chunks(8 * MIB), headers=olga)  # chunked: cut off at once
        assert r.status_code == 403 and pulled <= 128 * 1024, (r.status_code, pulled)
        otto = client.post("/store", content=b"\2" * (3 * MIB), headers={"X-API-Key": keys["otto"]})
        assert otto.status_code == 201, otto.text  # another party is not held back
    assert not list(settings.path("tmp").glob(".upload-*"))


def test_a_chunked_upload_is_cut_off_where_it_passes_the_quota(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", store_max_mb_per_party=2)
    key = create_api_key(settings, party=create_party(settings, "olga", Role.DATA_OWNER), scopes=["*"])[0]
    with in_process(settings) as client:
        r, pulled = post_streamed(client, "/store", _chunks(8 * MIB), headers={"X-API-Key": key})
        assert r.status_code == 403, r.text
        assert 2 * MIB - 128 * 1024 <= pulled <= 2 * MIB + 128 * 1024, pulled
        assert client.post("/store", content=b"\1" * MIB, headers={"X-API-Key": key}).status_code == 201
    assert not list(settings.path("tmp").glob(".upload-*"))
