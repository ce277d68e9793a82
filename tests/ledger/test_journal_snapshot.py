"""The embedded chain's snapshot: a fresh process starts from it instead of replaying the
whole journal — only when it is this journal's (its head hash matches) and intact. Attacks
first: an altered snapshot, one from another journal, a journal rewritten under it; each is
ignored (the chain is what the journal says) and `chain check` reports it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from eotrust.cli.main import app
from eotrust.errors import LedgerError
from eotrust.ledger import Chain, embedded
from eotrust.ledger.embedded import ChainJournal, check_snapshot, read_snapshot, snapshot_path
from eotrust.settings import Settings, load_settings

PAYEES = [Account.from_key(bytes([0x60 + i]) * 32).address for i in range(6)]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A chain with a few transactions and a snapshot written by the next process that opens it."""
    monkeypatch.setattr(embedded, "SNAPSHOT_EVERY", 3)
    settings = load_settings(home=tmp_path / "home")
    chain = Chain.from_settings(settings)
    for i, payee in enumerate(PAYEES):
        chain.fund(payee, 10**15 * (i + 1))
    assert not snapshot_path(settings.chain_dir).exists()
    Chain.from_settings(settings).block_number()  # replays 7 records: writes the snapshot
    return settings


def balances(settings: Settings) -> list[int]:
    chain = Chain.from_settings(settings)
    return [chain.balance(a) for a in PAYEES]


def test_a_fresh_process_starts_from_the_snapshot(home: Settings) -> None:
    journal = ChainJournal(home.chain_dir)
    loaded = read_snapshot(home.chain_dir, journal.path)
    assert loaded is not None and loaded[0] == journal.size()
    assert balances(home) == [10**15 * (i + 1) for i in range(len(PAYEES))]
    report = check_snapshot(home.chain_dir)
    assert report.matches_replay and report.offset == journal.size()
    # and later records are applied on top of it
    chain = Chain.from_settings(home)
    chain.fund(PAYEES[0], 1)
    assert balances(home)[0] == 10**15 + 1


def test_an_altered_snapshot_is_ignored(home: Settings) -> None:
    path = snapshot_path(home.chain_dir)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # one byte of the payload
    path.write_bytes(bytes(data))
    assert read_snapshot(home.chain_dir, ChainJournal(home.chain_dir).path) is None
    report = check_snapshot(home.chain_dir)
    assert report.present and not report.matches_replay
    assert balances(home) == [10**15 * (i + 1) for i in range(len(PAYEES))]  # replayed from the journal...
    assert check_snapshot(home.chain_dir).matches_replay  # ...which wrote a good snapshot again


def test_a_snapshot_of_another_journal_is_ignored(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = load_settings(home=tmp_path / "other")
    chain = Chain.from_settings(other)
    for payee in PAYEES:
        chain.fund(payee, 7)  # same number of transactions, other amounts
    Chain.from_settings(other).block_number()
    # the other chain's snapshot (and a journal of ours rewritten to the same length) must not be trusted
    snapshot_path(home.chain_dir).write_bytes(snapshot_path(other.chain_dir).read_bytes())
    assert read_snapshot(home.chain_dir, ChainJournal(home.chain_dir).path) is None
    assert balances(home) == [10**15 * (i + 1) for i in range(len(PAYEES))]


def test_chain_check_replays_and_compares(home: Settings) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--home", str(home.home), "chain", "check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["snapshot"] == {"present": True, "offset": report["size"], "matches_replay": True}
    path = snapshot_path(home.chain_dir)
    path.write_bytes(path.read_bytes()[:-1])  # a torn snapshot
    result = runner.invoke(app, ["--home", str(home.home), "chain", "check"])
    assert result.exit_code == 0 and "does not match this journal" in result.stdout


def test_a_corrupt_journal_under_a_good_snapshot_is_still_refused(home: Settings) -> None:
    journal = ChainJournal(home.chain_dir)
    data = bytearray(journal.path.read_bytes())
    data[len(data) // 2] ^= 0x01  # history the snapshot covers
    journal.path.write_bytes(bytes(data))
    assert read_snapshot(home.chain_dir, journal.path) is None  # its head hash no longer matches
    with pytest.raises(LedgerError, match="corrupt at offset"):
        Chain.from_settings(home).block_number()
