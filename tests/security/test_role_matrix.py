"""Keep attacking (issue 12): every role tries every other role's moves, over HTTP and through
the CLI; only the party whose move it is succeeds, everybody else is refused (401/403, or a
non-zero exit with one error line) and nothing changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from api_attack_world import WORKFLOW, build_world, client
from attack_counts import record
from eth_account.messages import encode_defunct
from fast_keys import SCRYPT_N
from typer.testing import CliRunner

from eotrust.cli.main import app as cli
from eotrust.errors import EotrustError

PARTIES = ("sam", "olga", "alan", "pia")
ROLE_OF = {"sam": "submitter", "olga": "data-owner", "alan": "algorithm-owner", "pia": "platform-owner"}
TALLY: dict[str, int] = {"tried": 0, "succeeded": 0}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("matrix")
    with pytest.MonkeyPatch.context() as env:
        for var in ("EOTRUST_HOME", "EOTRUST_CHAIN_URL", "EOTRUST_STORE", "EOTRUST_CATALOG_URL"):
            env.delenv(var, raising=False)
        env.setenv("EOTRUST_CONFIG", "")  # no config file
        env.setenv("EOTRUST_PASSPHRASE", "test-passphrase")
        env.setenv("EOTRUST_KEYSTORE_SCRYPT_N", str(SCRYPT_N))
        from eotrust.store import open_store

        w = build_world(base / "home")
        w.workflow_cid = open_store(w.settings).put_bytes(WORKFLOW.encode())  # type: ignore[attr-defined]  # this test's own field on the World
        yield w
    record("role-matrix attacks", TALLY["tried"], TALLY["succeeded"])


def _move_body(world: Any, move: str, actor: str) -> tuple[str, str, dict[str, Any] | None]:
    if move == "register dataset":
        return "post", "/catalog/datasets", {"title": f"by {actor}", "cid": world.dataset_cid, "size": 20}
    if move == "register application":
        return (
            "post",
            "/catalog/applications",
            {"name": f"app-{actor}", "workflow_cid": world.workflow_cid, "inputs": ["scene"], "outputs": ["shouted"]},
        )
    if move == "register platform":
        return (
            "post",
            "/catalog/platforms",
            {"name": f"cloud-{actor}", "age_recipient": world.parties[actor].card.age_recipient},
        )
    if move == "read dataset plaintext":
        return "get", f"/store/{world.dataset_cid}", None
    raise AssertionError(move)


OWNER_OF_MOVE = {
    "register dataset": "olga",
    "register application": "alan",
    "register platform": "pia",
    "read dataset plaintext": "olga",
}


@pytest.mark.parametrize("actor", PARTIES)
@pytest.mark.parametrize("move", list(OWNER_OF_MOVE))
def test_http_moves(world: Any, move: str, actor: str) -> None:
    http = client(world.settings)
    method, path, body = _move_body(world, move, actor)
    r = http.request(method, path, headers=world.headers(actor), json=body)
    allowed = OWNER_OF_MOVE[move] == actor
    if not allowed:
        TALLY["tried"] += 1
        TALLY["succeeded"] += r.status_code < 400
    assert (r.status_code < 300) == allowed, (move, actor, r.status_code, r.text[:300])
    if not allowed:
        assert r.status_code in (401, 403), (move, actor, r.status_code, r.text[:300])


@pytest.mark.parametrize("actor", PARTIES)
@pytest.mark.parametrize("target", PARTIES)
def test_http_key_minting_for_a_party(world: Any, actor: str, target: str) -> None:
    """``actor`` signs a challenge for ``target``'s key: only ``target``'s own signature mints it."""
    http = client(world.settings)
    ch = http.post("/apikeys/challenge", json={"party": target, "scopes": ["*"]}).json()
    sig = world.parties[actor].account.sign_message(encode_defunct(text=ch["message"])).signature.hex()
    r = http.post("/apikeys", json={"nonce": ch["nonce"], "signature": sig})
    if actor != target:
        TALLY["tried"] += 1
        TALLY["succeeded"] += r.status_code < 400
    assert (r.status_code == 201) == (actor == target), (actor, target, r.status_code, r.text[:300])


@pytest.fixture(scope="module")
def own_passphrases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four parties, each with its own passphrase (``pass-NAME``)."""
    from eotrust.party import Role, create_party
    from eotrust.settings import load_settings

    home = tmp_path_factory.mktemp("cli") / "home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EOTRUST_CONFIG", "")  # no config file
        env.setenv("EOTRUST_KEYSTORE_SCRYPT_N", str(SCRYPT_N))
        settings = load_settings(home=home)
        for name in PARTIES:
            create_party(settings, name, Role.parse(ROLE_OF[name]), passphrase=f"pass-{name}", scrypt_n=SCRYPT_N)
    return home


@pytest.mark.parametrize("actor", PARTIES)
@pytest.mark.parametrize("target", PARTIES)
def test_cli_key_minting_for_a_party(
    own_passphrases: Path, monkeypatch: pytest.MonkeyPatch, actor: str, target: str
) -> None:
    """``actor`` (who knows only its own passphrase) asks the CLI for a key acting as ``target``."""
    monkeypatch.setenv("EOTRUST_PASSPHRASE", f"pass-{actor}")
    res = CliRunner().invoke(cli, ["--home", str(own_passphrases), "apikey", "create", "--party", target, "--json"])
    if actor != target:
        TALLY["tried"] += 1
        TALLY["succeeded"] += res.exit_code == 0
        assert res.exit_code != 0 and isinstance(res.exception, EotrustError), res.output
    else:
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["party"] == target
