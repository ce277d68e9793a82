"""The web page and the API documentation load nothing from outside the server (in process)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from eotrust.api.app import create_app
from eotrust.settings import Settings

STATIC = Path(__file__).resolve().parents[2] / "src" / "eotrust" / "api" / "web" / "static"
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.I)


def test_api_html_is_swagger_ui_from_local_files(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        page = client.get("/api.html")
        assert page.status_code == 200 and "swagger-ui" in page.text
        assert not EXTERNAL.search(page.text), page.text
        for asset in re.findall(r"""(?:src|href)=["'](/api-assets/[^"']+)""", page.text):
            assert client.get(asset).status_code == 200, asset
        assert client.get("/openapi.json").json()["paths"]


def test_web_page_and_its_files_name_no_outside_url(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        index = client.get("/web/")
        assert index.status_code == 200 and not EXTERNAL.search(index.text)
        for ref in re.findall(r"""(?:src|href)=["']([^"']+)""", index.text):
            assert client.get(f"/web/{ref}").status_code == 200, ref
        assert client.get("/web/vendor/land-110m.geojson").json()["type"] == "FeatureCollection"
    for path in (STATIC / "app.js", STATIC / "style.css"):
        assert not re.search(r"https?://(?!www\.w3\.org/)", path.read_text()), path  # XML namespaces are names
