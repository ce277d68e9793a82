"""Minting an API key remotely, without handing over a key: the party proves control of its
account by signing a server-issued challenge (EIP-191).

``POST /apikeys/challenge {party, scopes, label}`` (anonymous) answers a challenge: a random
nonce and the exact text to sign, ``"eotrust api-key challenge v1\\n"`` + sorted JSON naming
the party, its address (from its card on this server), the new key's id and SHA-256, the
scopes, this server and an expiry. ``POST /apikeys {nonce, signature}`` stores the key, with the
signed text as its grant, and answers its secret — once: a challenge is used at most once (it
is removed before the signature is checked) and only before it expires. Pending challenges are
held in memory, a bounded number of them, so anonymous callers cannot grow the server."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from eotrust.api.ogc import ERROR_RESPONSES
from eotrust.catalog.api_keys import (
    CHALLENGE_PREFIX,
    SECRET_PREFIX,
    ApiKeys,
    _check_scope,
    grant_fields,
    grant_text,
    hash_secret,
    signer_of,
)
from eotrust.errors import AuthError, InvalidInputError, NotFoundError

router = APIRouter(prefix="/apikeys", tags=["Keys"])

TTL_S = 300.0
MAX_PENDING = 1000


class ChallengeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    # each as long as a model CID or a model package's name at most: a pending challenge holds
    # them twice (the scopes and the text to sign), and anyone may ask for a thousand
    scopes: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=lambda: ["*"], max_length=50)
    label: str = Field("", max_length=200)


class Challenge(BaseModel):
    nonce: str
    message: str = Field(description="the exact text to sign with EIP-191 (personal_sign)")
    expires: float = Field(description="seconds since the epoch")


class SignedChallenge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nonce: str = Field(min_length=16, max_length=100)
    signature: str = Field(min_length=4, max_length=200, description="0x… 65-byte EIP-191 signature")


class MintedKey(BaseModel):
    id: str
    party: str
    scopes: list[str]
    secret: str = Field(description="shown only now; only its SHA-256 is kept")


@dataclass
class _Pending:
    key_id: str
    secret: str
    party: str
    address: str
    scopes: list[str]
    label: str
    message: str
    expires: float


class KeyProofs:
    """The pending challenges of one server (kept in ``app.state.key_proofs``)."""

    def __init__(
        self,
        keys: ApiKeys,
        card: Callable[[str], tuple[str | None, str | None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.card = card
        self.clock = clock
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._lock = threading.Lock()

    def challenge(self, req: ChallengeRequest, server: str) -> Challenge:
        address, _role = self.card(req.party)
        if address is None:
            raise NotFoundError(
                f"no party {req.party!r} on this server", hint="its card must be under the server's home"
            )
        scopes = sorted({_check_scope(s) for s in req.scopes or ["*"]})
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        key_id = "k" + secrets.token_hex(6)
        nonce = secrets.token_urlsafe(24)
        expires = round(self.clock() + TTL_S, 3)
        fields = {
            **grant_fields(
                key_id=key_id,
                key_hash=hash_secret(secret),
                party=req.party,
                address=address,
                scopes=scopes,
                label=req.label,
            ),
            "nonce": nonce,
            "server": server,
            "expires": expires,
        }
        message = grant_text(CHALLENGE_PREFIX, fields)
        with self._lock:
            while len(self._pending) >= MAX_PENDING:
                self._pending.popitem(last=False)
            self._pending[nonce] = _Pending(key_id, secret, req.party, address, scopes, req.label, message, expires)
        return Challenge(nonce=nonce, message=message, expires=expires)

    def answer(self, signed: SignedChallenge) -> MintedKey:
        with self._lock:
            pending = self._pending.pop(signed.nonce, None)  # single use, whatever follows
        if pending is None:
            raise AuthError("no such challenge (unknown, already used or evicted)", hint="ask for a new one")
        if self.clock() > pending.expires:
            raise AuthError("the challenge expired", hint="ask for a new one and sign it within five minutes")
        signer = signer_of(pending.message, signed.signature)
        if signer is None or signer.lower() != pending.address.lower():
            raise AuthError(
                f"the signature is not {pending.party}'s over this challenge",
                hint="sign the challenge's message with EIP-191 (personal_sign) by the party's account",
            )
        if self.card(pending.party)[0] != pending.address:  # the card changed meanwhile
            raise AuthError(f"the card of {pending.party} changed; ask for a new challenge")
        info = self.keys.insert(
            pending.key_id,
            pending.secret,
            party=pending.party,
            scopes=pending.scopes,
            label=pending.label,
            grant=pending.message,
            signature=signed.signature,
        )
        return MintedKey(id=info.id, party=pending.party, scopes=list(info.scopes), secret=pending.secret)


def mount(app: FastAPI) -> None:
    """Serve the routes; the challenge book is made on first use, from the app's state."""
    app.include_router(router)


@router.post(
    "/challenge",
    response_model=Challenge,
    status_code=201,
    responses=ERROR_RESPONSES,
    summary="A challenge for a party to sign (EIP-191) to mint an API key without handing over its key",
)
def challenge(request: Request, body: ChallengeRequest) -> Any:
    return request.app.state.eotrust.key_proofs.challenge(body, str(request.base_url).rstrip("/"))


@router.post(
    "",
    response_model=MintedKey,
    status_code=201,
    responses=ERROR_RESPONSES,
    summary="Mint the API key of a signed challenge (its secret is shown only now)",
)
def mint(request: Request, body: SignedChallenge) -> Any:
    if not body.signature.startswith(("0x", "0X")) and len(body.signature) != 130:
        raise InvalidInputError("the signature is not 65 bytes of hex")
    return request.app.state.eotrust.key_proofs.answer(body)
