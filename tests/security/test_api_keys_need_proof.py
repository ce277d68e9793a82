"""Attack (issue 12, item 3): `eotrust apikey create --party owner-b` worked without owner-b's
passphrase, and for a party that does not exist; with that key the server signed ledger moves as
owner-b. A key acts for a party only with proof of control of that party: its keystore unlocked,
or an EIP-191 signature over a server-issued, single-use, expiring challenge; and a key row
written into the shared catalogue by anyone else acts for nobody."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from api_attack_world import World, build_world, client
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.errors import EotrustError
from eotrust.settings import Settings

runner = CliRunner()


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "home", dataset=False)


def _keys_in_catalogue(settings: Settings) -> int:
    from eotrust.catalog.api_keys import list_api_keys

    return len(list_api_keys(settings))


def test_cli_refuses_a_key_for_a_party_without_its_passphrase(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _keys_in_catalogue(world.settings)
    home = ["--home", str(world.home)]
    monkeypatch.setenv("EOTRUST_PASSPHRASE", "not-olgas-passphrase")
    res = runner.invoke(app, [*home, "apikey", "create", "--party", "olga", "--json"])
    # an EotrustError is what `eotrust` prints as one line (cli.main.main), never a traceback
    assert res.exit_code != 0 and isinstance(res.exception, EotrustError), res.output
    assert "passphrase" in str(res.exception), res.exception
    monkeypatch.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
    res = runner.invoke(app, [*home, "apikey", "create", "--party", "nobody", "--json"])
    assert res.exit_code != 0 and isinstance(res.exception, EotrustError) and "nobody" in str(res.exception)
    assert _keys_in_catalogue(world.settings) == before
    # with olga's passphrase it works, and the key acts as olga
    res = runner.invoke(app, [*home, "apikey", "create", "--party", "olga", "--json"])
    assert res.exit_code == 0, res.output
    secret = json.loads(res.stdout)["secret"]
    assert client(world.settings).get("/me", headers={"X-API-Key": secret}).json()["party"] == "olga"


def test_the_library_refuses_a_party_key_without_the_unlocked_party(world: World) -> None:
    """A bare name, or the party's public card (name and address, no secret), is not proof."""
    from eotrust.catalog.api_keys import create_api_key
    from eotrust.errors import PermissionDeniedError
    from eotrust.party import export_card

    before = _keys_in_catalogue(world.settings)
    card = export_card(world.settings, "olga")
    for not_unlocked in ("olga", card):
        with pytest.raises(PermissionDeniedError, match="proof of control"):
            create_api_key(world.settings, party=not_unlocked, scopes=["*"])  # type: ignore[arg-type]  # deliberately no Party
    assert _keys_in_catalogue(world.settings) == before


def _forge_row(settings: Settings, party: str, scopes: list[str]) -> str:
    """What a holder of the shared catalogue can do: write a key row of its own choosing."""
    from sqlalchemy.orm import Session

    from eotrust.catalog.api_key_records import ApiKeyRow
    from eotrust.catalog.api_keys import hash_secret
    from eotrust.catalog.db import open_session_factory

    secret = "eot_" + secrets.token_urlsafe(32)
    sessions = open_session_factory(settings)
    with sessions() as session, session.begin():
        assert isinstance(session, Session)
        session.add(
            ApiKeyRow(
                id="k" + secrets.token_hex(6),
                hash=hash_secret(secret),
                party=party,
                scopes=scopes,
                label="forged",
                created="2026-12-01T00:00:00Z",
                revoked=None,
            )
        )
    return secret


def test_a_key_row_written_into_the_catalogue_acts_for_nobody(world: World) -> None:
    forged = _forge_row(world.settings, "olga", ["*"])
    http = client(world.settings)
    r = http.get("/me", headers={"X-API-Key": forged})
    assert r.status_code in (401, 403), r.text
    r = http.post(
        "/catalog/platforms",
        headers={"X-API-Key": forged},
        json={"name": "p", "age_recipient": world.parties["pia"].card.age_recipient},
    )
    assert r.status_code in (401, 403), r.text


def test_widening_a_keys_scopes_in_the_catalogue_voids_it(world: World) -> None:
    from sqlalchemy import update

    from eotrust.catalog.api_key_records import ApiKeyRow
    from eotrust.catalog.api_keys import create_api_key
    from eotrust.catalog.db import open_session_factory

    try:
        secret, info = create_api_key(world.settings, party=world.parties["sam"], scopes=["tiny"])
    except Exception:  # the code before the fix took a bare name
        secret, info = create_api_key(world.settings, party="sam", scopes=["tiny"])  # type: ignore[arg-type]  # deliberately the bare name that code took
    http = client(world.settings)
    assert http.get("/me", headers={"X-API-Key": secret}).status_code == 200
    with open_session_factory(world.settings)() as session, session.begin():
        session.execute(update(ApiKeyRow).where(ApiKeyRow.id == info.id).values(scopes=["*"]))
    assert http.get("/me", headers={"X-API-Key": secret}).status_code in (401, 403)


def test_a_key_row_repointed_at_another_secret_acts_for_nobody(tmp_path: Path) -> None:
    """The holder of the catalogue changed only the hash column of a party's genuine key row
    to the SHA-256 of a secret of its own: the grant (signed by the party, naming the key's
    hash) was checked but its hash never compared, so the holder's secret acted as the party —
    read the data owner's plaintext, had the server sign a platform record for the platform
    owner naming the holder's age key (an audit)."""
    from sqlalchemy import update

    from eotrust.catalog.api_key_records import ApiKeyRow
    from eotrust.catalog.api_keys import SECRET_PREFIX, hash_secret
    from eotrust.catalog.db import open_session_factory

    world = build_world(tmp_path / "with-data", dataset=True)
    http = client(world.settings)
    for party in ("olga", "pia"):
        genuine, mine = world.keys[party], SECRET_PREFIX + secrets.token_urlsafe(32)
        with open_session_factory(world.settings)() as session, session.begin():
            session.execute(
                update(ApiKeyRow).where(ApiKeyRow.hash == hash_secret(genuine)).values(hash=hash_secret(mine))
            )
        assert http.get("/me", headers={"X-API-Key": mine}).status_code in (401, 403)
        if party == "olga":
            read = http.get(f"/store/{world.dataset_cid}", headers={"X-API-Key": mine})
            assert read.status_code in (401, 403) and b"karst" not in read.content
        else:
            made = http.post(
                "/catalog/platforms",
                headers={"X-API-Key": mine},
                json={"name": "evil", "age_recipient": world.parties["sam"].card.age_recipient},
            )
            assert made.status_code in (401, 403), made.text


def _challenge(http: TestClient, party: str, scopes: list[str] | None = None) -> dict[str, Any]:
    r = http.post("/apikeys/challenge", json={"party": party, "scopes": scopes or ["*"], "label": "remote"})
    assert r.status_code == 201, r.text
    challenge: dict[str, Any] = r.json()
    return challenge


def test_a_party_mints_a_key_remotely_by_signing_a_challenge(world: World) -> None:
    http = client(world.settings)
    sam = world.parties["sam"].account
    ch = _challenge(http, "sam")
    assert ch["message"].startswith("eotrust api-key challenge v1\n")
    sig = sam.sign_message(encode_defunct(text=ch["message"])).signature.hex()
    r = http.post("/apikeys", json={"nonce": ch["nonce"], "signature": sig})
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert http.get("/me", headers={"X-API-Key": secret}).json()["party"] == "sam"
    # single use: the same answer again is refused
    again = http.post("/apikeys", json={"nonce": ch["nonce"], "signature": sig})
    assert again.status_code in (400, 401, 403, 404), again.text


def test_a_challenge_signed_by_another_key_or_another_message_is_refused(world: World) -> None:
    http = client(world.settings)
    before = _keys_in_catalogue(world.settings)
    ch = _challenge(http, "olga")
    # sam (or anybody) signs olga's challenge
    sig = world.parties["sam"].account.sign_message(encode_defunct(text=ch["message"])).signature.hex()
    assert http.post("/apikeys", json={"nonce": ch["nonce"], "signature": sig}).status_code in (401, 403)
    # olga's signature over another domain's text (her party card) is no answer either
    ch = _challenge(http, "olga")
    card_sig = world.parties["olga"].card.signature
    assert http.post("/apikeys", json={"nonce": ch["nonce"], "signature": card_sig}).status_code in (401, 403)
    # a stranger's key, a party that does not exist, garbage
    ch = _challenge(http, "olga")
    stranger = Account.create()
    sig = stranger.sign_message(encode_defunct(text=ch["message"])).signature.hex()
    assert http.post("/apikeys", json={"nonce": ch["nonce"], "signature": sig}).status_code in (401, 403)
    assert http.post("/apikeys/challenge", json={"party": "nobody", "scopes": ["*"]}).status_code in (400, 404)
    assert http.post("/apikeys", json={"nonce": "x" * 32, "signature": "0x" + "00" * 65}).status_code in (
        400,
        401,
        403,
        404,
    )
    assert _keys_in_catalogue(world.settings) == before


def test_an_expired_challenge_is_refused(world: World) -> None:
    http = client(world.settings)
    ch = _challenge(http, "sam")
    proofs = http.app.state.eotrust.key_proofs
    proofs.clock = lambda: 10**12  # far beyond the challenge's expiry
    sig = world.parties["sam"].account.sign_message(encode_defunct(text=ch["message"])).signature.hex()
    r = http.post("/apikeys", json={"nonce": ch["nonce"], "signature": sig})
    assert r.status_code in (400, 401, 403, 404) and "expired" in r.text, r.text
