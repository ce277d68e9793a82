"""API keys: created once (the secret is shown once), kept only as a SHA-256, scoped to models,
revocable.

A secret is ``eot_`` + 43 URL-safe characters (256 random bits, ``secrets.token_urlsafe``).
A key may be bound to a party (it then acts as that party on the party REST API) and is scoped
to model packages: a list of CIDs or model names, or ``*`` for every model.

A key acts for a party only with the party's proof of control, kept beside it: the party's
account signs (EIP-191) a *grant* naming the key (its id and SHA-256), the party, its address
and the scopes. The grant is either ``"eotrust api-key grant v1\n" + JSON``, signed where the
party's keystore is unlocked (:func:`create_api_key` with a :class:`~eotrust.party.Party`), or
``"eotrust api-key challenge v1\n" + JSON``, a server-issued challenge the party signed
remotely (the server's ``POST /apikeys``). :func:`check_grant` re-checks it, against the party's
card, every time the key is used: a row written into the shared catalogue by anyone else, or a
row whose scopes were widened, acts for nobody.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from eotrust.catalog.api_key_records import ApiKeyRow
from eotrust.catalog.db import open_session_factory
from eotrust.cid import canonical_text, normal_cid
from eotrust.clock import utc_now
from eotrust.crypto.signing import Domain, account_of, record_header, sign_text, text_signer
from eotrust.errors import AuthError, InvalidInputError, NotFoundError, PermissionDeniedError, StateError
from eotrust.limits import json_loads

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from eotrust.party import Party
    from eotrust.settings import Settings

SECRET_PREFIX = "eot_"
ALL_MODELS = "*"
#: The signed formats of grants (`eotrust apikey create`) and challenges (POST /apikeys/challenge).
GRANT_PREFIX = record_header(Domain.API_KEY_GRANT, 1)
CHALLENGE_PREFIX = record_header(Domain.API_KEY_CHALLENGE, 1)


def scopes_allow(scopes: Iterable[str], cid: str, name: str | None = None) -> bool:
    """Whether key scopes (model CIDs in any form, model names, or ``*``) include the model
    package ``cid`` named ``name``."""
    wanted = normal_cid(cid)
    for scope in scopes:
        if scope == ALL_MODELS or (name and scope == name) or (wanted and normal_cid(scope) == wanted):
            return True
    return False


@dataclass(frozen=True)
class ApiKeyInfo:
    """What is known about a key (never its secret)."""

    id: str
    party: str | None
    scopes: tuple[str, ...]
    label: str
    created: str
    revoked: str | None = None
    grant: str | None = None
    signature: str | None = None
    hash: str = ""  # the SHA-256 of its secret, as its row holds it

    @property
    def key_id(self) -> str:
        return self.id

    def allows_model(self, cid: str, name: str | None = None) -> bool:
        """Whether this key may use the model package ``cid`` (named ``name``); CIDs are
        compared in their normal form."""
        return scopes_allow(self.scopes, cid, name)

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKeyInfo:
        return cls(
            row.id,
            row.party,
            tuple(row.scopes or ()),
            row.label or "",
            row.created,
            row.revoked,
            row.grant,
            row.signature,
            row.hash,
        )


def grant_fields(
    *, key_id: str, key_hash: str, party: str, address: str, scopes: list[str] | tuple[str, ...], label: str
) -> dict[str, object]:
    """What a party's signature binds a key to."""
    return {
        "key_id": key_id,
        "key_hash": key_hash,
        "party": party,
        "address": address,
        "scopes": sorted(scopes),
        "label": label,
    }


def grant_text(prefix: str, fields: dict[str, object]) -> str:
    """The exact EIP-191 text: a domain tag and the fields as canonical JSON."""
    return prefix + canonical_text(fields)


def signer_of(text: str, signature: str) -> str | None:
    """The address whose EIP-191 signature of ``text`` this is; None for a malformed one."""
    return text_signer(text, signature)


def check_grant(info: ApiKeyInfo, address: str | None) -> None:
    """Refuse (403) unless ``info`` carries a grant signed by ``address`` (the party's card)
    that names this very key — its id and the SHA-256 of its secret, which found its row —
    its party and exactly its scopes. (The hash was not compared: a row whose hash column the
    catalogue's holder set to the hash of a secret of its own acted as the party.)"""
    refused = PermissionDeniedError(
        f"API key {info.id} carries no valid proof of control of party {info.party!r}",
        hint=f"create one with `eotrust apikey create --party {info.party}` (the party's passphrase) "
        "or by signing a challenge (POST /apikeys/challenge)",
    )
    text, signature = info.grant or "", info.signature or ""
    prefix = next((p for p in (GRANT_PREFIX, CHALLENGE_PREFIX) if text.startswith(p)), None)
    if prefix is None or not address or not signature:
        raise refused
    try:
        fields = json_loads(text[len(prefix) :])
    except ValueError:
        raise refused from None
    if not isinstance(fields, dict):
        raise refused
    row_hash = fields.get("key_hash")
    if (
        fields.get("key_id") != info.id
        or fields.get("party") != info.party
        or str(fields.get("address", "")).lower() != address.lower()
        or fields.get("scopes") != sorted(info.scopes)
        or not isinstance(row_hash, str)
        or not info.hash
        or row_hash != info.hash  # the row found by the secret's hash is the key the party signed for
    ):
        raise refused
    signer = signer_of(text, signature)
    if signer is None or signer.lower() != address.lower():
        raise refused


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
    """The API keys of one catalogue. ``eotrust.backends.Backends.api_keys`` keeps one, over the
    catalogue's one engine, for the life of a process."""

    def __init__(self, settings: Settings, *, sessions: sessionmaker[Session] | None = None) -> None:
        self._sessions = sessions if sessions is not None else open_session_factory(settings)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def create(
        self, *, party: Party | None = None, scopes: list[str] | None = None, label: str = ""
    ) -> tuple[str, ApiKeyInfo]:
        """A new key: ``(secret, info)``; the secret is returned only here. A key for a party
        takes the unlocked :class:`~eotrust.party.Party` (its keystore opened with its
        passphrase): the party's account signs the grant."""
        signer = None
        if party is not None:
            try:  # only an unlocked party holds the account that signs its grant
                signer = account_of(party, "an API key's grant")
            except InvalidInputError:
                raise PermissionDeniedError(
                    f"an API key for party {party!r} needs proof of control of it",
                    hint="unlock the party (load_party with its passphrase) or sign a challenge (POST /apikeys/challenge)",
                ) from None
        cleaned = sorted({_check_scope(s) for s in (scopes or [ALL_MODELS])})
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        key_id = "k" + secrets.token_hex(6)
        grant = signature = None
        if party is not None and signer is not None:
            grant = grant_text(
                GRANT_PREFIX,
                grant_fields(
                    key_id=key_id,
                    key_hash=hash_secret(secret),
                    party=party.name,
                    address=party.address,
                    scopes=cleaned,
                    label=label,
                ),
            )
            signature = sign_text(signer, grant)
        return secret, self.insert(
            key_id,
            secret,
            party=party.name if party is not None else None,
            scopes=cleaned,
            label=label,
            grant=grant,
            signature=signature,
        )

    def insert(
        self,
        key_id: str,
        secret: str,
        *,
        party: str | None,
        scopes: list[str],
        label: str,
        grant: str | None,
        signature: str | None,
    ) -> ApiKeyInfo:
        """Store a key whose grant was made (and checked) by the caller."""
        row = ApiKeyRow(
            id=key_id,
            hash=hash_secret(secret),
            party=party,
            scopes=sorted(scopes),
            label=label,
            created=utc_now(),
            revoked=None,
            grant=grant,
            signature=signature,
        )
        with self._session() as session:
            session.add(row)
        return ApiKeyInfo.from_row(row)

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


def create_api_key(
    settings: Settings, *, party: Party | None, scopes: list[str], label: str = ""
) -> tuple[str, ApiKeyInfo]:
    """A new key, for the unlocked ``party`` (signed by it) or for no party (model scoring)."""
    return ApiKeys(settings).create(party=party, scopes=scopes, label=label)


def revoke_api_key(settings: Settings, key_id: str) -> ApiKeyInfo:
    return ApiKeys(settings).revoke(key_id)


def verify_api_key(settings: Settings, secret: str) -> ApiKeyInfo:
    return ApiKeys(settings).verify(secret)


def list_api_keys(settings: Settings) -> list[ApiKeyInfo]:
    return ApiKeys(settings).list()
