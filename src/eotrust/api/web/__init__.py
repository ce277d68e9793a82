"""The web page: static ``index.html`` + ``app.js`` + ``style.css`` served at ``/web/``
(no build step, no CDN; the page talks to the same server's JSON API)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent


def mount(app: FastAPI) -> None:
    app.mount("/web", StaticFiles(directory=WEB_DIR / "static", html=True), name="web")

    @app.get("/web", include_in_schema=False)
    def _web_slash() -> RedirectResponse:
        return RedirectResponse("/web/")
