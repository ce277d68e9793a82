"""Links as OGC API and STAC write them, and the server's base URL."""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel, ConfigDict


class Link(BaseModel):
    """``link.yaml`` of OGC API (href, rel, type, hreflang, title)."""

    model_config = ConfigDict(extra="allow")
    href: str
    rel: str | None = None
    type: str | None = None
    hreflang: str | None = None
    title: str | None = None


def base_url(request: Request) -> str:
    """The server's root URL as the client reached it, without a trailing slash."""
    return str(request.base_url).rstrip("/")
