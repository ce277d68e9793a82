"""The STAC API (the app in process), read by an unmodified pystac-client whose requests
session hands its requests to the app (api_client.InProcessAdapter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pystac
import pytest
from api_client import InProcessAdapter, base_url
from eth_account import Account
from pystac.validation import JsonSchemaSTACValidator, RegisteredValidator
from fastapi.testclient import TestClient
from pystac_client import Client
from pystac_client.stac_api_io import StacApiIO

from eotrust.catalog.entries import DatasetInfo
from eotrust.catalog.service import Catalog
from eotrust.cid import cid_of_bytes
from eotrust.settings import load_settings

SLOVENIA = (14.3, 45.9, 14.6, 46.1)
ALPS = (10.0, 46.5, 11.0, 47.0)


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's own JSON-schema validator (core schemas ship with pystac). The extension schemas
    live on stac-extensions.github.io, which this offline machine cannot reach: those are checked
    below through pystac's extension classes instead, and listed here as not fetched."""

    def __init__(self) -> None:
        super().__init__()
        self.not_fetched: set[str] = set()

    def validate_extension(self, stac_dict: dict[str, Any], stac_object_type: Any, stac_version: str,
                           extension_id: str, href: str | None = None) -> Any:
        if extension_id not in self.schema_cache:
            self.not_fetched.add(extension_id)
            return None
        return super().validate_extension(stac_dict, stac_object_type, stac_version, extension_id, href)


@pytest.fixture
def stac_server(tmp_path: Path, api_client_factory: Any) -> TestClient:
    home = tmp_path / "home"
    settings = load_settings(home=home)
    catalog = Catalog(settings)
    owner = Account.create()
    catalog.register_dataset(owner, DatasetInfo(
        title="Slovenia NDVI 2017", cid=cid_of_bytes(b"ndvi"), size=4, bbox=SLOVENIA,
        start="2017-01-01T00:00:00Z", end="2017-12-31T00:00:00Z", crs="EPSG:32633", bands=["NDVI"]))
    catalog.register_dataset(owner, DatasetInfo(
        title="Alps RGB 2019", cid=cid_of_bytes(b"rgb"), size=3, bbox=ALPS,
        start="2019-06-01T00:00:00Z", end="2019-06-01T00:00:00Z", crs="EPSG:32632", bands=["B04", "B03", "B02"]))
    return api_client_factory(home)


def test_pystac_client_searches_by_bbox_and_datetime(stac_server: TestClient) -> None:
    validator = OfflineValidator()
    RegisteredValidator.set_validator(validator)
    try:
        url = base_url(stac_server)
        stac_io = StacApiIO()
        stac_io.session.mount(url, InProcessAdapter(stac_server))
        client = Client.open(f"{url}/stac", stac_io=stac_io)
        assert {c.id for c in client.get_collections()} == {"datasets", "models", "results"}

        found = list(client.search(bbox=[14.0, 45.5, 15.0, 46.5], datetime="2017-03-01/2017-04-01").items())
        assert [i.properties["title"] for i in found] == ["Slovenia NDVI 2017"]

        by_time = list(client.search(datetime="2019-01-01T00:00:00Z/..", collections=["datasets"]).items())
        assert [i.properties["title"] for i in by_time] == ["Alps RGB 2019"]

        assert list(client.search(bbox=[0, 0, 1, 1]).items()) == []
        everything = list(client.search(collections=["datasets"], limit=1).items())  # paged one by one
        assert len(everything) == 2

        for item in everything:
            item.validate()
            assert item.properties["eotrust:cid"] == item.assets["data"].extra_fields["eotrust:cid"]
            assert item.assets["data"].href.startswith(f"{url}/store/Qm")
            proj = pystac.extensions.projection.ProjectionExtension.ext(item)
            assert proj.code in ("EPSG:32633", "EPSG:32632")
            assert pystac.extensions.file.FileExtension.ext(item.assets["data"]).size in (3, 4)
            bands = pystac.extensions.eo.EOExtension.ext(item.assets["data"]).bands
            assert bands and bands[0].name in ("NDVI", "B04")
        rgb = next(i for i in everything if i.properties["title"] == "Alps RGB 2019")
        assert [b.common_name for b in pystac.extensions.eo.EOExtension.ext(rgb.assets["data"]).bands] == ["red", "green", "blue"]
    finally:
        RegisteredValidator.set_validator(JsonSchemaSTACValidator())


def test_get_search_and_bad_queries(stac_server: TestClient) -> None:
    url = "/stac/search"
    r = stac_server.get(url, params={"bbox": "10,46,11.5,47.5", "ids": ""})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    assert [f["properties"]["title"] for f in r.json()["features"]] == ["Alps RGB 2019"]
    for bad in ({"bbox": "1,2,3"}, {"datetime": "yesterday"}, {"bbox": "a,b,c,d"}, {"datetime": "../.."}):
        r = stac_server.get(url, params=bad)
        assert r.status_code == 400, bad
        assert r.json()["detail"]
    r = stac_server.post(url, json={"intersects": {"type": "Point", "coordinates": [14.4, 46.0]}})
    assert [f["properties"]["title"] for f in r.json()["features"]] == ["Slovenia NDVI 2017"]
    assert stac_server.get("/stac/collections/nothing").status_code in (400, 404)
