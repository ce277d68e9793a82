"""API keys: only a hash is kept; verify, scope, revoke; `eotrust apikey …`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from eotrust.catalog.api_keys import ApiKeys, create_api_key, hash_secret, list_api_keys, revoke_api_key, verify_api_key
from eotrust.catalog.base import Base
from eotrust.cli.main import app
from eotrust.errors import AuthError, InvalidInputError, NotFoundError, StateError
from eotrust.settings import Settings

CID = "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"
runner = CliRunner()


def test_create_verify_revoke(settings: Settings) -> None:
    from eotrust.party import Role, create_party

    alice = create_party(settings, "alice", Role.SUBMITTER)  # a party's key needs the party unlocked
    secret, info = create_api_key(settings, party=alice, scopes=[CID, "landcover"])
    assert secret.startswith("eot_") and len(secret) > 40
    assert info.party == "alice" and info.scopes == (CID, "landcover")
    assert verify_api_key(settings, secret) == info
    assert info.allows_model(CID) and info.allows_model("QmOther", "landcover")
    assert not info.allows_model("QmOther", "other-model")
    from eotrust.cid import to_v1

    assert info.allows_model(to_v1(CID))
    revoked = revoke_api_key(settings, info.id)
    assert revoked.revoked is not None
    with pytest.raises(AuthError, match="revoked"):
        verify_api_key(settings, secret)
    with pytest.raises(StateError):
        revoke_api_key(settings, info.id)
    with pytest.raises(NotFoundError):
        revoke_api_key(settings, "knope")


def test_only_the_hash_is_stored(settings: Settings) -> None:
    secret, info = create_api_key(settings, party=None, scopes=["*"])
    engine = create_engine(settings.catalog_database_url)  # every catalogue table, SQLite or PostgreSQL
    try:
        with engine.connect() as conn:
            dump = "\n".join(repr(tuple(row)) for t in Base.metadata.sorted_tables for row in conn.execute(select(t)))
    finally:
        engine.dispose()
    assert secret not in dump and hash_secret(secret) in dump
    assert info.allows_model(CID, "anything")


def test_bad_keys_and_scopes(settings: Settings) -> None:
    keys = ApiKeys(settings)
    for bad in ("", "nope", "eot_" + "x" * 43, "eot_" * 100):
        with pytest.raises(AuthError, match="invalid"):
            keys.verify(bad)
    with pytest.raises(InvalidInputError, match="scope"):
        keys.create(scopes=["bad scope!"])
    assert [k.id for k in list_api_keys(settings)] == []


def test_cli(settings: Settings) -> None:
    from eotrust.party import Role, create_party

    create_party(settings, "bob", Role.SUBMITTER)  # `apikey create --party bob` needs bob's passphrase
    home = ["--home", str(settings.home)]
    res = runner.invoke(app, [*home, "apikey", "create", "--party", "bob", "--scope", CID, "--json"])
    assert res.exit_code == 0, res.output
    created = json.loads(res.stdout)
    assert verify_api_key(settings, created["secret"]).party == "bob"
    listed = json.loads(runner.invoke(app, [*home, "apikey", "list", "--json"]).stdout)
    assert [k["id"] for k in listed] == [created["id"]] and "secret" not in listed[0]
    res = runner.invoke(app, [*home, "apikey", "create"])
    assert res.exit_code == 0 and "shown only now" in res.stdout
    assert runner.invoke(app, [*home, "apikey", "revoke", created["id"]]).exit_code == 0
    with pytest.raises(AuthError):
        verify_api_key(settings, created["secret"])
