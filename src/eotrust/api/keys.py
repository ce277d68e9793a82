"""API keys: created once (the secret is shown once), kept only as a SHA-256, scoped to models,
revocable.

A secret is ``eot_`` + 43 URL-safe characters (256 random bits, ``secrets.token_urlsafe``).
A key may be bound to a party (it then acts as that party on the party REST API) and is scoped
to model packages: a list of CIDs or model names, or ``*`` for every model.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from eotrust.catalog.api_key_records import ApiKeyRow
from eotrust.catalog.db import open_session_factory
from eotrust.errors import AuthError, InvalidInputError, NotFoundError, StateError
from eotrust.ml.package import utc_now

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from eotrust.settings import Settings

SECRET_PREFIX = "eot_"
ALL_MODELS = "*"


@dataclass(frozen=True)
class ApiKeyInfo:
    """What is known about a key (never its secret)."""

    id: str
    party: str | None
    scopes: tuple[str, ...]
    label: str
    created: str
    revoked: str | None = None

    @property
    def key_id(self) -> str:
        return self.id

    def allows_model(self, cid: str, name: str | None = None) -> bool:
        """Whether this key may use the model package ``cid`` (named ``name``)."""
        if ALL_MODELS in self.scopes:
            return True
        wanted = {cid, *_cid_forms(cid)}
        if name:
            wanted.add(name)
        return bool(wanted & set(self.scopes))

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKeyInfo:
        return cls(row.id, row.party, tuple(row.scopes or ()), row.label or "", row.created, row.revoked)


def _cid_forms(cid: str) -> set[str]:
    from eotrust.cid import to_v0, to_v1

    try:
        return {to_v0(cid), to_v1(cid)}
    except Exception:
        return set()


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_scope(scope: str) -> str:
    from eotrust.cid import validate_cid

    scope = scope.strip()
    if scope == ALL_MODELS:
        return scope
    try:
        validate_cid(scope)
        return scope
    except Exception:
        pass
    if not scope or not all(c.isalnum() or c in "._-" for c in scope):
        raise InvalidInputError(f"scope {scope!r} is neither '*', a model CID nor a model name")
    return scope


class ApiKeys:
    """The API keys of one catalogue; a server keeps one (its session factory) for its lifetime."""

    def __init__(self, settings: Settings, *, sessions: sessionmaker[Session] | None = None) -> None:
        self._sessions = sessions if sessions is not None else open_session_factory(settings)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def create(self, *, party: str | None = None, scopes: list[str] | None = None, label: str = "") -> tuple[str, ApiKeyInfo]:
        """A new key: ``(secret, info)``. The secret is returned only here."""
        cleaned = sorted({_check_scope(s) for s in (scopes or [ALL_MODELS])})
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        row = ApiKeyRow(id="k" + secrets.token_hex(6), hash=hash_secret(secret), party=party or None,
                        scopes=cleaned, label=label, created=utc_now(), revoked=None)
        with self._session() as session:
            session.add(row)
        return secret, ApiKeyInfo.from_row(row)

    def revoke(self, key_id: str) -> ApiKeyInfo:
        with self._session() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFoundError(f"no API key {key_id}", hint="`eotrust apikey list` shows the keys")
            if row.revoked:
                raise StateError(f"API key {key_id} was already revoked at {row.revoked}")
            row.revoked = utc_now()
            return ApiKeyInfo.from_row(row)

    def verify(self, secret: str) -> ApiKeyInfo:
        """The key whose secret this is; AuthError if there is none or it was revoked."""
        if not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
            raise AuthError("invalid API key", hint="create one with `eotrust apikey create`")
        with self._session() as session:
            row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.hash == hash_secret(secret))).first()
            if row is None:
                raise AuthError("invalid API key", hint="create one with `eotrust apikey create`")
            if row.revoked:
                raise AuthError(f"API key {row.id} was revoked at {row.revoked}")
            return ApiKeyInfo.from_row(row)

    def list(self) -> list[ApiKeyInfo]:
        with self._session() as session:
            return [ApiKeyInfo.from_row(r) for r in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created))]


def create_api_key(settings: Settings, *, party: str | None, scopes: list[str], label: str = "") -> tuple[str, ApiKeyInfo]:
    return ApiKeys(settings).create(party=party, scopes=scopes, label=label)


def revoke_api_key(settings: Settings, key_id: str) -> ApiKeyInfo:
    return ApiKeys(settings).revoke(key_id)


def verify_api_key(settings: Settings, secret: str) -> ApiKeyInfo:
    return ApiKeys(settings).verify(secret)


def list_api_keys(settings: Settings) -> list[ApiKeyInfo]:
    return ApiKeys(settings).list()
