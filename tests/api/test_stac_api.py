"""The STAC API (the app in process), read by an unmodified pystac-client whose requests
session hands its requests to the app (api_client.InProcessAdapter)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pystac
import pytest
from api_client import InProcessAdapter, base_url
from eth_account import Account
from fastapi.testclient import TestClient
from pystac.validation import JsonSchemaSTACValidator, RegisteredValidator
from pystac_client import Client
from pystac_client.stac_api_io import StacApiIO

from eotrust.catalog.entries import DatasetInfo
from eotrust.catalog.service import Catalog
from eotrust.cid import cid_of_bytes
from eotrust.settings import Settings, load_settings

SLOVENIA = (14.3, 45.9, 14.6, 46.1)
ALPS = (10.0, 46.5, 11.0, 47.0)


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's own JSON-schema validator (core schemas ship with pystac). The extension schemas
    live on stac-extensions.github.io, which this offline machine cannot reach: those are checked
    below through pystac's extension classes instead, and listed here as not fetched."""

    def __init__(self) -> None:
        super().__init__()
        self.not_fetched: set[str] = set()

    def validate_extension(
        self,
        stac_dict: dict[str, Any],
        stac_object_type: Any,
        stac_version: str,
        extension_id: str,
        href: str | None = None,
    ) -> Any:
        if extension_id not in self.schema_cache:
            self.not_fetched.add(extension_id)
            return None
        return super().validate_extension(stac_dict, stac_object_type, stac_version, extension_id, href)


@pytest.fixture
def stac_server(tmp_path: Path, api_client_factory: Callable[..., TestClient]) -> TestClient:
    home = tmp_path / "home"
    settings = load_settings(home=home)
    catalog = Catalog(settings)
    owner = Account.create()
    catalog.register_dataset(
        owner,
        DatasetInfo(
            title="Slovenia NDVI 2017",
            cid=cid_of_bytes(b"ndvi"),
            size=4,
            bbox=SLOVENIA,
            start="2017-01-01T00:00:00Z",
            end="2017-12-31T00:00:00Z",
            crs="EPSG:32633",
            bands=["NDVI"],
        ),
    )
    catalog.register_dataset(
        owner,
        DatasetInfo(
            title="Alps RGB 2019",
            cid=cid_of_bytes(b"rgb"),
            size=3,
            bbox=ALPS,
            start="2019-06-01T00:00:00Z",
            end="2019-06-01T00:00:00Z",
            crs="EPSG:32632",
            bands=["B04", "B03", "B02"],
        ),
    )
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
        rgb_bands = pystac.extensions.eo.EOExtension.ext(rgb.assets["data"]).bands
        assert rgb_bands is not None
        assert [b.common_name for b in rgb_bands] == [
            "red",
            "green",
            "blue",
        ]
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


def test_times_at_the_ends_of_the_calendar_are_a_400(stac_server: TestClient) -> None:
    """A time that is valid but leaves the calendar once moved to UTC (year 1 at +01:00, year
    9999 at -23:59) was a 500 with a traceback (OverflowError), anonymously (an audit)."""
    early, late = "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59"
    for r in (
        stac_server.get("/stac/search", params={"datetime": early}),
        stac_server.post("/stac/search", json={"datetime": late}),
        stac_server.get("/stac/collections/datasets/items", params={"datetime": late}),
        stac_server.get("/catalog/search", params={"start": early}),
        stac_server.get("/catalog/search", params={"end": late}),
    ):
        assert r.status_code in (400, 422), (r.request.url, r.text)
        assert "Traceback" not in r.text and r.json()["detail"]


def test_model_items_carry_the_mlm_extension(
    tmp_path: Path, tiny_enet_zip: Path, api_client_factory: Callable[..., TestClient]
) -> None:
    from pystac.extensions.mlm import MLMExtension

    from eotrust.ml.registry import Registry

    home = tmp_path / "home"
    entry = Registry(load_settings(home=home)).register(tiny_enet_zip)
    client = api_client_factory(home)
    doc = client.get(f"/stac/collections/models/items/{entry.cid}").json()
    item = pystac.Item.from_dict(doc)
    assert MLMExtension.get_schema_uri() in item.stac_extensions
    mlm = MLMExtension.ext(item)
    assert (mlm.mlm_name, mlm.architecture, mlm.framework) == ("tiny", "enet", "ONNX")
    assert [str(t) for t in mlm.tasks] == ["semantic-segmentation"]
    (model_input,) = mlm.input
    assert model_input.bands == ["red", "green", "blue"]
    assert model_input.input.shape == [-1, 3, 64, 64]
    (output,) = mlm.output
    assert output.classes is not None
    assert [c.name for c in output.classes] == ["water", "forest", "field", "town"]
    roles = item.assets["package"].roles
    assert roles is not None and "mlm:model" in roles
    # a spatial search never lists a model (it has no footprint)
    r = client.get("/stac/search", params={"bbox": "-180,-90,180,90", "collections": "models"})
    assert r.json()["features"] == []


def _tamper(settings: Settings, record_id: str) -> None:
    import sqlite3

    with sqlite3.connect(settings.catalog_database_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE catalog_datasets SET title = 'edited' WHERE id = ?", (record_id,))


def test_search_reads_only_the_rows_it_returns(tmp_path: Path, api_client_factory: Callable[..., TestClient]) -> None:
    # The filters run in the database: a damaged row outside the searched area and time is not
    # read at all, while any search that reaches it leaves it out and names it in ``skipped``
    # (never returns it quietly, never fails for it).
    home = tmp_path / "home"
    settings = load_settings(home=home)
    catalog = Catalog(settings)
    owner = Account.create()
    alps = catalog.register_dataset(
        owner,
        DatasetInfo(
            title="Alps",
            cid=cid_of_bytes(b"a"),
            size=1,
            bbox=ALPS,
            start="2019-06-01T00:00:00Z",
            end="2019-06-02T00:00:00Z",
        ),
    )
    slovenia = catalog.register_dataset(
        owner,
        DatasetInfo(
            title="Slovenia",
            cid=cid_of_bytes(b"s"),
            size=1,
            bbox=SLOVENIA,
            start="2017-01-01T00:00:00Z",
            end="2017-12-31T00:00:00Z",
        ),
    )
    _tamper(settings, alps.id)
    client = api_client_factory(home)
    for params in (
        {"bbox": "14,45.5,15,46.5"},
        {"datetime": "2017-03-01T00:00:00Z/2017-04-01T00:00:00Z"},
        {"ids": slovenia.id},
    ):
        r = client.get("/stac/search", params={**params, "collections": "datasets"})
        assert r.status_code == 200, (params, r.text)
        assert [f["id"] for f in r.json()["features"]] == [slovenia.id]
    assert client.get(f"/stac/collections/datasets/items/{slovenia.id}").status_code == 200
    for params in ({"bbox": "10,46,11.5,47.5"}, {"datetime": "2019-06-01T12:00:00Z"}, {}):
        r = client.get("/stac/search", params={**params, "collections": "datasets"})
        assert r.status_code == 200, (params, r.text)
        assert alps.id not in [f["id"] for f in r.json()["features"]], params
        assert [s["id"] for s in r.json()["skipped"]] == [alps.id], params


def test_a_page_of_datasets_reads_only_its_rows(tmp_path: Path, api_client_factory: Callable[..., TestClient]) -> None:
    """A search of the datasets collection is paged by the database: one page reads and checks
    its own rows, however many match (before, every matching row was read and checked for each
    page, so anyone could make each request cost the whole catalogue). A damaged row is named in
    the ``skipped`` of the page that reaches it, never returned."""
    home = tmp_path / "home"
    settings = load_settings(home=home)
    catalog = Catalog(settings)
    owner = Account.create()
    records = [
        catalog.register_dataset(
            owner, DatasetInfo(title=f"scene {i}", cid=cid_of_bytes(bytes([i])), size=1, bbox=SLOVENIA)
        )
        for i in range(5)
    ]
    records.sort(key=lambda r: (r.created, r.id))  # the order of every listing
    _tamper(settings, records[4].id)
    client = api_client_factory(home)
    for url, params in (
        ("/stac/search", {"collections": "datasets", "limit": 2}),
        ("/stac/collections/datasets/items", {"limit": 2}),
    ):
        first = client.get(url, params=params)
        assert first.status_code == 200, first.text  # before: the damaged fifth row failed every page
        page = first.json()
        assert [f["id"] for f in page["features"]] == [r.id for r in records[:2]]
        assert page["numberMatched"] == 5 and page["numberReturned"] == 2
        nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
        second = client.get(nxt.removeprefix("http://testserver"))
        assert [f["id"] for f in second.json()["features"]] == [r.id for r in records[2:4]]
        third = client.get(next(link["href"] for link in second.json()["links"] if link["rel"] == "next"))
        assert third.status_code == 200 and third.json()["features"] == []
        assert [s["id"] for s in third.json()["skipped"]] == [records[4].id]
    posted = client.post("/stac/search", json={"collections": ["datasets"], "limit": 3})
    assert posted.status_code == 200 and len(posted.json()["features"]) == 3


def test_search_across_the_antimeridian_and_open_intervals(
    tmp_path: Path, api_client_factory: Callable[..., TestClient]
) -> None:
    home = tmp_path / "home"
    catalog = Catalog(load_settings(home=home))
    owner = Account.create()
    fiji = catalog.register_dataset(
        owner,
        DatasetInfo(
            title="Fiji",
            cid=cid_of_bytes(b"f"),
            size=1,
            bbox=(177.0, -19.0, 179.9, -16.0),
            start="2020-01-01T00:00:00Z",
        ),
    )
    catalog.register_dataset(
        owner, DatasetInfo(title="Alps", cid=cid_of_bytes(b"a"), size=1, bbox=ALPS, start="2019-06-01T00:00:00Z")
    )
    client = api_client_factory(home)

    def ids(**params: str) -> list[str]:
        r = client.get("/stac/search", params=params)
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["features"]]

    assert ids(bbox="170,-20,-170,-10") == [fiji.id]  # west > east: crosses 180°
    assert ids(datetime="2019-12-31T00:00:00Z/..", collections="datasets") == [fiji.id]
    assert ids(datetime="../2019-12-31T00:00:00Z", collections="datasets") == [
        i for i in ids(collections="datasets") if i != fiji.id
    ]
