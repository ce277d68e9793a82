"""``/api.html``: Swagger UI over ``/openapi.json``, served from local files (the
``swagger-ui-bundle-v2`` package ships Swagger UI's built files), so the page works offline:
nothing is loaded from a CDN. The page is this module's own (FastAPI's starts Swagger UI with
an inline script): it loads the bundle and ``/web/api-docs.js``, so that its Content Security
Policy (the web page's, :data:`eotrust.api.security_headers.WEB_CSP`) forbids inline script."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/api-assets"
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


def mount(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_dir()), name="api-assets")
    page = PAGE.format(title=escape(f"{app.title} API"), assets=ASSETS, starter=STARTER)

    @app.get("/api.html", include_in_schema=False)
    def api_html() -> HTMLResponse:
        return HTMLResponse(page)
