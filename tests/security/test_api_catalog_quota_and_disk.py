"""A party with a key fills the server: catalogue records (each registration under a new name,
or a second later, is a new signed row: on the old code 50 platforms posted by one party
with the disk "short" made 50 rows, and nothing bounded the count), or any other write once
the disk is nearly full (tasks, deployments, quotations, scored GeoTIFFs). Now each owner holds at most ``catalog_max_records_per_owner`` records of a kind
(403 with one line, other owners unaffected, an identical record still idempotent), and every
authenticated write is refused with 507 once less than ``min_free_disk_mb`` would be left;
reading goes on."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_client import in_process  # noqa: E402

from eotrust.catalog.api_keys import create_api_key  # noqa: E402
from eotrust.catalog.entries import PlatformInfo  # noqa: E402
from eotrust.catalog.service import open_catalog  # noqa: E402
from eotrust.disk import free_bytes  # noqa: E402
from eotrust.errors import QuotaExceededError  # noqa: E402
from eotrust.ml.registry import Registry  # noqa: E402
from eotrust.party import Role, create_party  # noqa: E402
from eotrust.settings import load_settings  # noqa: E402

RECIPIENT = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"


@pytest.fixture
def api_client_factory() -> Iterator[Callable[..., TestClient]]:
    with ExitStack() as stack:

        def make(home: Path, **overrides: object) -> TestClient:
            return stack.enter_context(in_process(load_settings(config_file=None, home=home, **overrides)))

        yield make


def test_an_owner_holds_at_most_its_quota_of_records(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", catalog_max_records_per_owner=3)
    pia = create_party(settings, "pia", Role.PLATFORM_OWNER)
    quinn = create_party(settings, "quinn", Role.PLATFORM_OWNER)
    catalog = open_catalog(settings)
    first = catalog.register(pia, PlatformInfo(name="cloud-0", age_recipient=RECIPIENT))
    for i in range(1, 3):
        catalog.register(pia, PlatformInfo(name=f"cloud-{i}", age_recipient=RECIPIENT))
    with pytest.raises(QuotaExceededError, match=r"already holds 3 platform records; one owner may hold at most 3"):
        catalog.register(pia, PlatformInfo(name="cloud-3", age_recipient=RECIPIENT))
    assert catalog.add(first) == first  # the same signed record again: idempotent, not a new row
    catalog.register(quinn, PlatformInfo(name="cloud-q", age_recipient=RECIPIENT))  # another owner
    assert len(catalog.list(first.kind, owner=first.owner)) == 3


def test_over_http_the_quota_is_one_line_and_a_full_disk_stops_every_write(
    tmp_path: Path, api_client_factory: Callable[..., TestClient], tiny_enet_zip: Path
) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home)
    model = Registry(settings).register(tiny_enet_zip).cid
    model_key, _ = create_api_key(settings, party=None, scopes=[model])
    key, _ = create_api_key(settings, party=create_party(settings, "pia", Role.PLATFORM_OWNER), scopes=["*"])
    auth = {"X-API-Key": key}
    client = api_client_factory(home, catalog_max_records_per_owner=2)
    for i in range(2):
        r = client.post("/catalog/platforms", headers=auth, json={"name": f"c{i}", "age_recipient": RECIPIENT})
        assert r.status_code == 201, r.text
    r = client.post("/catalog/platforms", headers=auth, json={"name": "c2", "age_recipient": RECIPIENT})
    assert r.status_code == 403, r.text
    detail = r.json()["detail"]
    assert "at most 2" in detail and "\n" not in detail and "Traceback" not in r.text
    assert len(client.get("/catalog/platforms").json()) == 2

    short = api_client_factory(home, min_free_disk_mb=(free_bytes(tmp_path) >> 20) + 4096)  # more than the disk has
    before = short.get("/catalog/platforms").json()
    for method, path, body in (
        ("post", "/catalog/platforms", {"name": "c9", "age_recipient": RECIPIENT}),
        ("post", "/processes/anything/execution", {"inputs": {}}),
        ("put", "/processes/anything", {}),
    ):
        r = short.request(method.upper(), path, headers=auth, json=body)
        assert r.status_code == 507 and "short of disk" in r.json()["detail"], (path, r.text)
        assert r.headers["retry-after"] == "60"
    # a GeoTIFF to score is written to a temporary file first: refused too (an array is scored in memory)
    tiff = {"X-API-Key": model_key, "Content-Type": "image/tiff"}
    r = short.post(f"/models/{model}/predict", content=b"II*\0" + b"\0" * 4096, headers=tiff)
    assert r.status_code == 507 and "short of disk" in r.json()["detail"], r.text
    tile = [[[0.5] * 16 for _ in range(16)] for _ in range(3)]
    r = short.post(f"/models/{model}/predict", json={"data": tile}, headers={"X-API-Key": model_key})
    assert r.status_code == 200, r.text
    assert not list(settings.path("tmp").iterdir())  # nothing half-written
    assert short.get("/catalog/platforms").json() == before  # reads go on, nothing was written
    assert short.post("/catalog/platforms", json={"name": "x", "age_recipient": RECIPIENT}).status_code == 401
