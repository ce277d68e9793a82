"""`eotrust party export-identity`: the party's age key for Debian's `age` CLI, exact both ways."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eotrust.cid import cid_of_bytes
from eotrust.cli.main import app
from eotrust.crypto import open_from_store, seal_to_store
from eotrust.errors import NotFoundError, PartyError
from eotrust.party import load_party
from eotrust.settings import Settings
from eotrust.store import LocalStore

runner = CliRunner()
AGE = shutil.which("age")


@pytest.fixture
def home(settings: Settings) -> list[str]:
    result = runner.invoke(app, ["--home", str(settings.home), "party", "create", "dana", "--role", "submitter"])
    assert result.exit_code == 0, result.output
    return ["--home", str(settings.home)]


def test_export_identity_warns_and_is_private(home: list[str], settings: Settings, tmp_path: Path) -> None:
    key = tmp_path / "dana.key"
    result = runner.invoke(app, [*home, "party", "export-identity", "dana", "-o", str(key)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr and "in clear" in result.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    lines = key.read_text().splitlines()
    party = load_party(settings, "dana")
    assert lines[-1] == party.age_identity and f"# public key: {party.age_recipient}" in lines


def test_export_identity_never_overwrites(home: list[str], tmp_path: Path) -> None:
    key = tmp_path / "taken"
    key.write_text("precious")
    result = runner.invoke(app, [*home, "party", "export-identity", "dana", "-o", str(key)])
    assert isinstance(result.exception, PartyError) and key.read_text() == "precious"
    result = runner.invoke(app, [*home, "party", "export-identity", "nobody", "-o", str(tmp_path / "k")])
    assert isinstance(result.exception, NotFoundError) and not (tmp_path / "k").exists()


def test_age_cli_reads_what_eotrust_seals_and_the_other_way(
    home: list[str], settings: Settings, tmp_path: Path
) -> None:
    key = tmp_path / "dana.key"
    assert runner.invoke(app, [*home, "party", "export-identity", "dana", "-o", str(key)]).exit_code == 0
    party = load_party(settings, "dana")
    store = LocalStore(tmp_path / "store")
    data = bytes(range(256)) * 3000
    src = tmp_path / "result.bin"
    src.write_bytes(data)
    sealed = seal_to_store(store, src, [party.age_recipient])
    (tmp_path / "ct.age").write_bytes(store.get_bytes(sealed.cid))
    assert AGE is not None, "the age CLI is not on PATH"
    out = subprocess.run([AGE, "-d", "-i", str(key), str(tmp_path / "ct.age")], capture_output=True, check=True)
    assert out.stdout == data
    # and the age CLI encrypting for the party's recipient (from its card): eotrust opens it
    enc = subprocess.run([AGE, "-r", party.age_recipient], input=data, capture_output=True, check=True).stdout
    cid = store.put_bytes(enc)
    opened = open_from_store(store, cid, party.age_identity, tmp_path / "back", expected_cid=cid_of_bytes(data))
    assert opened == cid_of_bytes(data) and (tmp_path / "back").read_bytes() == data
