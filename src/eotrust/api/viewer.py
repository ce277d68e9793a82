"""Who is looking, where looking needs no key: the party of a presented API key, or nobody.

Processes deployed with a visibility list (OGC API - Processes - Part 2) are shown only to
those parties; a request without a key sees public processes only. A key that is presented
but wrong is still refused (401), so a typo never silently hides processes."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from eotrust.api.auth import api_key_header, bearer, presented_secret, require_party


def viewing_party(
    request: Request,
    key: str | None = Depends(api_key_header),
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> str | None:
    """The calling party's name when a key is presented, else None."""
    if not presented_secret(key, credentials):
        return None
    return require_party(request, key, credentials).party
