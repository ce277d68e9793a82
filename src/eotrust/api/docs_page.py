"""``/api.html``: Swagger UI over ``/openapi.json``, served from local files (the
``swagger-ui-bundle-v2`` package ships Swagger UI's built files), so the page works offline:
nothing is loaded from a CDN. The page is this module's own (FastAPI's starts Swagger UI with
an inline script): it loads the bundle and ``/web/api-docs.js``, so that its Content Security
Policy (the web page's, :data:`eotrust.api.security_headers.WEB_CSP`) forbids inline script.

Only the files the page loads are served from the package's folder: it also ships Swagger UI's
stock demo pages (``index.html``, ``oauth2-redirect.html``), which start Swagger UI on
petstore.swagger.io with inline script and, served from this origin, could read what the web
page keeps in its storage (the API key)."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/api-assets"
#: the files of Swagger UI's folder that the page loads: every other path there is a 404
ASSET_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})
#: Swagger UI's start-up script, a file of the web page's (eotrust/api/web/static).
STARTER = "/web/api-docs.js"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{starter}"></script>
</body>
</html>
"""


def swagger_ui_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


class ListedFiles(StaticFiles):
    """Static files of a folder, only those named: any other path is a 404."""

    def __init__(self, *, directory: Path, files: frozenset[str]) -> None:
        super().__init__(directory=directory)
        self.files = files

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in self.files:  # the path as StaticFiles normalised it ('a/../b' is 'b')
            return "", None
        return super().lookup_path(path)


def mount(app: FastAPI) -> None:
    app.mount(ASSETS, ListedFiles(directory=swagger_ui_dir(), files=ASSET_FILES), name="api-assets")
    page = PAGE.format(title=escape(f"{app.title} API"), assets=ASSETS, starter=STARTER)

    @app.get("/api.html", include_in_schema=False)
    def api_html() -> HTMLResponse:
        return HTMLResponse(page)
