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


def test_only_the_files_api_html_loads_are_served_from_swagger_uis_folder(settings: Settings) -> None:
    """Attack: Swagger UI's package ships stock demo pages (index.html, oauth2-redirect.html) that
    run without the page's Content Security Policy, fetch petstore.swagger.io and, served from
    this origin, could read the API key the web page keeps. Only the assets /api.html names are
    served; any other path under /api-assets is a 404."""
    from eotrust.api.docs_page import ASSET_FILES, swagger_ui_dir

    with TestClient(create_app(settings)) as client:
        page = client.get("/api.html")
        named = set(re.findall(r"""(?:src|href)=["']/api-assets/([^"']+)""", page.text))
        assert named == ASSET_FILES, page.text  # served: what the page loads, nothing more
        for name in named:
            assert client.get(f"/api-assets/{name}").status_code == 200, name
        shipped = {p.name for p in swagger_ui_dir().iterdir()}
        stock = ["index.html", "oauth2-redirect.html"]
        assert set(stock) <= shipped  # the package still ships them
        for name in stock + sorted(shipped - named) + ["", "./index.html", "../docs_page.py", "x/../index.html"]:
            assert client.get(f"/api-assets/{name}").status_code == 404, name
        assert client.get("/api-assets").status_code == 404


def test_web_page_and_its_files_name_no_outside_url(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        index = client.get("/web/")
        assert index.status_code == 200 and not EXTERNAL.search(index.text)
        for ref in re.findall(r"""(?:src|href)=["']([^"']+)""", index.text):
            assert client.get(f"/web/{ref}").status_code == 200, ref
        assert client.get("/web/vendor/land-110m.geojson").json()["type"] == "FeatureCollection"
    for path in (STATIC / "app.js", STATIC / "style.css"):
        assert not re.search(r"https?://(?!www\.w3\.org/)", path.read_text()), path  # XML namespaces are names
