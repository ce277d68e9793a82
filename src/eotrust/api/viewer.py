"""Who is looking, where looking needs no key: the party of a presented API key, or nobody.

Processes deployed with a visibility list (OGC API - Processes - Part 2) are shown only to
those parties; a request without a key sees public processes only. A key that is presented
but wrong is still refused (401), so a typo never silently hides processes. The headers are
read directly (not through the security-scheme dependencies), so the OpenAPI document keeps
these operations open, which they are."""

from __future__ import annotations

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from eotrust.api.auth import presented_secret, require_party


def viewing_party(request: Request) -> str | None:
    """The calling party's name when a key is presented, else None."""
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip()) if token.strip() else None
    if not presented_secret(key, credentials):
        return None
    return require_party(request, key, credentials).party
