"""Who is calling: FastAPI dependencies over the API keys of ``eotrust.catalog.api_keys``.

A key is sent as ``X-API-Key: SECRET`` or ``Authorization: Bearer SECRET``. A key bound to a
party lets the caller act as that party, and only as that party: every route that acts for a
party takes :func:`require_party` and compares the party it acts for with the caller's. A key
acts for its party only while the party's signed grant (see ``eotrust.catalog.api_keys``) holds.
A missing or unknown key is 401; a key for another party (or no party) is 403. A party's
request that writes (POST, PUT, PATCH) is refused with 507 while the server's disk is short
(less than ``min_free_disk_mb`` free): records, tasks, deployments and quotations all land on
the disk the chain journal, catalogue and store share."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from eotrust.api.state import ServerState
from eotrust.catalog.api_keys import check_grant
from eotrust.disk import check_free_disk
from eotrust.errors import AuthError, PermissionDeniedError

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an eotrust API key (`eotrust apikey create`)"
)
bearer = HTTPBearer(auto_error=False, description="the same API key as a bearer token")
#: Methods of requests that write: checked against the free disk once the caller is known.
WRITES = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class Caller:
    """The party an authenticated request acts as."""

    party: str
    key_id: str
    scopes: tuple[str, ...] = field(default_factory=tuple)
    address: str | None = None
    role: str | None = None


def presented_secret(key: str | None, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The API key secret a request presents, from the values of the :data:`api_key_header`
    (``X-API-Key``) and :data:`bearer` (``Authorization: Bearer``) dependencies — the header
    first — stripped of surrounding blanks; None when it presents neither (any other
    ``Authorization`` scheme counts as none). Routes that authenticate differently from
    :func:`require_party` (e.g. model-scoped keys) use it to read the key the same way."""
    if key:
        return key.strip()
    if credentials is not None and credentials.scheme.lower() == "bearer" and credentials.credentials:
        return credentials.credentials.strip()
    return None


def require_party(
    request: Request,
    key: str | None = Depends(api_key_header),
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Caller:
    """The calling party; 401 without a valid key, 403 for a key bound to no party."""
    secret = presented_secret(key, credentials)
    if not secret:
        raise AuthError("this request needs an API key", hint="send it as X-API-Key or Authorization: Bearer")
    state: ServerState = request.app.state.eotrust
    info = state.api_keys.verify(secret)  # raises AuthError for unknown/revoked keys
    if not info.party:
        raise PermissionDeniedError(
            "this API key is not bound to a party", hint="create one with `eotrust apikey create --party NAME`"
        )
    address, role = state.party_card(info.party)
    check_grant(info, address)  # the party's own signature, re-checked on every use
    if request.method in WRITES:
        check_free_disk(state.write_disks(), state.settings.min_free_disk_mb)
    return Caller(party=info.party, key_id=info.id, scopes=info.scopes, address=address, role=role)


def same_address(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a != "" and a.lower() == b.lower()


def ensure_is(caller: Caller, address: str | None, what: str) -> None:
    """Refuse unless the caller is the party with ``address`` (403 naming both)."""
    if not same_address(caller.address, address):
        raise PermissionDeniedError(
            f"only {what} ({address}) may do this; this API key acts as {caller.party} ({caller.address})"
        )
