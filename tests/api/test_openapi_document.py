"""The OpenAPI document describes every route: a summary, its parameters, the 400 its
validation answers, 401/403 where a key is needed, and the standard endpoints are there."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from eotrust.api.app import create_app


@pytest.fixture
def client(settings: Any) -> TestClient:
    return TestClient(create_app(settings))


def test_document_is_complete(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for required in (
        "/",
        "/conformance",
        "/processes",
        "/processes/{processId}",
        "/processes/{processId}/execution",
        "/jobs",
        "/jobs/{jobId}",
        "/jobs/{jobId}/results",
        "/stac",
        "/stac/search",
        "/tasks",
        "/tasks/{address}/answer",
        "/store",
        "/store/{cid}",
        "/catalog/search",
    ):
        assert required in paths, required
    for path, ops in paths.items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
            assert "400" in op["responses"] and "422" not in op["responses"], (method, path)
            if op.get("security"):
                assert {"401", "403"} <= set(op["responses"]), (method, path)
    schemes = doc["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"apiKey", "http"}
    assert paths["/stac/search"]["post"]["responses"]["200"]["content"].keys() == {"application/geo+json"}


def test_landing_and_conformance_follow_ogc(client: TestClient) -> None:
    landing = client.get("/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {
        "self",
        "service-desc",
        "http://www.opengis.net/def/rel/ogc/1.0/conformance",
        "http://www.opengis.net/def/rel/ogc/1.0/processes",
    } <= rels
    conf = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core" in conf
    stac = client.get("/stac").json()
    assert stac["type"] == "Catalog" and "https://api.stacspec.org/v1.0.0/item-search" in stac["conformsTo"]


def test_errors_are_ogc_exceptions(client: TestClient) -> None:
    r = client.get("/processes/none-such")
    assert r.status_code == 404 and r.json()["type"].endswith("/no-such-process")
    r = client.get("/jobs")
    assert r.status_code == 401 and r.headers["www-authenticate"] and r.json()["status"] == 401
    r = client.get("/stac/search", params={"bbox": "1,2"})
    assert r.status_code == 400 and r.json()["title"] == "InvalidInputError"


def test_web_page_is_served_without_a_build_step(client: TestClient) -> None:
    page = client.get("/web/")
    assert page.status_code == 200 and "app.js" in page.text
    for asset in ("/web/", "/web/app.js"):
        text = client.get(asset).text
        assert "https://" not in text and "//cdn" not in text, asset  # nothing fetched from elsewhere
    assert client.get("/web/style.css").status_code == 200
