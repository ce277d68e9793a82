"""Attack: flip a byte in the middle of the embedded chain's journal (anyone who can write a
home). Before the fix the chain silently rolled back to the last good record and the next
write truncated every later transaction for good."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_cli import cli, refused
from eth_account import Account

from eotrust.errors import LedgerError
from eotrust.ledger import Chain, TaskClient, TaskFactoryClient, TaskState
from eotrust.ledger.embedded import ChainJournal
from eotrust.settings import Settings

SUBMITTER = Account.from_key(b"\x61" * 32)
OWNER = Account.from_key(b"\x62" * 32)
RECIPIENT = "age1" + "q" * 58


def _task_with_history(settings: Settings) -> tuple[str, list[int]]:
    """A task moved through two states; the journal offsets where each record starts."""
    from eotrust.crypto import generate_identity

    _, recipient = generate_identity()
    chain = Chain.from_settings(settings)
    task = TaskFactoryClient(chain).create_task(
        SUBMITTER,
        results_recipient=recipient,
        application_id="a",
        application_owner=OWNER.address,
        platform_id="p",
        platform_owner=OWNER.address,
    )
    task.add_request(SUBMITTER, "d", OWNER.address)
    task.lock(SUBMITTER)
    return task.address, _offsets(ChainJournal(settings.chain_dir).path)


def _offsets(path: Path) -> list[int]:
    """Where each record starts (the format: a 24-byte header, then magic | length | crc32 | payload)."""
    data = path.read_bytes()
    offsets, pos = [], 24
    while pos < len(data):
        offsets.append(pos)
        pos += 12 + int.from_bytes(data[pos + 4 : pos + 8], "big")
    return offsets


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_byte_mid_journal_is_refused_naming_the_offset(settings: Settings) -> None:
    address, offsets = _task_with_history(settings)
    journal = ChainJournal(settings.chain_dir).path
    bad = offsets[len(offsets) // 2]
    _flip(journal, bad + 20)  # inside a record's payload, with later records behind it
    size = journal.stat().st_size
    with pytest.raises(LedgerError, match=f"offset {bad}"):
        TaskClient(Chain.from_settings(settings), address).state()
    # every command refuses, as one line, and nothing is cut off
    exc = refused(cli(settings.home, "task", "status", address))
    assert f"offset {bad}" in exc.message
    assert journal.stat().st_size == size


def test_a_write_never_truncates_history(settings: Settings) -> None:
    address, offsets = _task_with_history(settings)
    journal = ChainJournal(settings.chain_dir).path
    _flip(journal, offsets[-2] + 3)  # a record's magic, not the last record
    before = journal.read_bytes()
    with pytest.raises(LedgerError):
        TaskClient(Chain.from_settings(settings), address).add_request(SUBMITTER, "e", OWNER.address)
    assert journal.read_bytes() == before


def test_torn_final_record_alone_is_dropped_and_kept_aside(settings: Settings) -> None:
    address, _ = _task_with_history(settings)
    journal = ChainJournal(settings.chain_dir).path
    with open(journal, "ab") as fh:
        fh.write(b"EOTJ\x00\x00\x10\x00torn-by-a-writer-that-died")
    from eotrust.ledger.embedded import check_journal

    assert check_journal(journal).torn_tail > 0
    chain = Chain.from_settings(settings)
    assert TaskClient(chain, address).state() is TaskState.RequestsLocked


def test_journal_check_command(settings: Settings) -> None:
    address, offsets = _task_with_history(settings)
    ok = cli(settings.home, "chain", "check")
    assert ok.exit_code == 0, ok.output
    assert f"{len(offsets)} records" in ok.output
    _flip(ChainJournal(settings.chain_dir).path, offsets[1] + 30)
    exc = refused(cli(settings.home, "chain", "check"))
    assert f"offset {offsets[1]}" in exc.message
