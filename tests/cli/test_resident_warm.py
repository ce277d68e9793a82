"""The agent's warm chains (eotrust.cli.resident.warm) attacked: a journal edited in place
while a chain is warm is refused as every process without the agent refuses it, and a journal
another process appended to keeps its chain warm."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_control import flip_in_place
from web3.types import RPCEndpoint

from eotrust.cli.resident.warm import WarmChains
from eotrust.errors import LedgerError
from eotrust.ledger.backend import EmbeddedBackend
from eotrust.ledger.embedded import check_journal


def _chain_with_history(directory: Path, blocks: int = 6) -> EmbeddedBackend:
    backend = EmbeddedBackend(directory)
    for _ in range(blocks):
        backend.provider.make_request(RPCEndpoint("evm_mine"), [])
    return backend


def test_a_byte_flipped_mid_journal_drops_the_warm_chain_and_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "chain"
    _chain_with_history(directory)
    warm = WarmChains()
    first = warm.get(directory)
    assert first is not None and warm.get(directory) is first  # kept warm
    journal = directory / "embedded.journal"
    offsets = check_journal(journal).offsets
    bad = offsets[len(offsets) // 2]
    assert journal.stat().st_size - bad > 64  # before the bytes the old check compared
    flip_in_place(journal, bad + 20)
    with pytest.raises(LedgerError, match=f"corrupt at offset {bad}"):
        warm.get(directory)  # reopened, as without the agent: refused
    assert warm.directories() == []


def test_a_journal_another_process_appended_to_stays_warm(tmp_path: Path) -> None:
    directory = tmp_path / "chain"
    _chain_with_history(directory, blocks=2)
    warm = WarmChains()
    first = warm.get(directory)
    assert first is not None
    other = EmbeddedBackend(directory)  # another process's chain, writing
    other.provider.make_request(RPCEndpoint("evm_mine"), [])
    assert warm.get(directory) is first
    assert first.provider.journal.offset == (directory / "embedded.journal").stat().st_size


def _planted(directory: Path, mib: int) -> None:
    """``mib`` MiB of intact records appended to the journal under ``directory`` (keys the
    chain never reads): a journal anyone may leave in a home."""
    from eotrust.ledger.embedded import ChainJournal

    journal = ChainJournal(directory)
    journal.offset = journal.size()
    with journal.lock():
        for i in range(mib):
            journal.append({b"planted-%d" % i: bytes([i % 251]) * (1 << 20)})


def test_a_journal_over_the_bound_is_not_kept_warm_and_one_that_grows_past_it_is_dropped(tmp_path: Path) -> None:
    """Before (an audit), the agent opened any journal in its only loop and kept it: a planted
    journal of gigabytes held every other client's command (~19 s) and stayed in its memory."""
    from eotrust.cli.resident.warm import NotWarm

    directory = tmp_path / "chain"
    _chain_with_history(directory, blocks=2)
    journal = directory / "embedded.journal"
    warm = WarmChains(max_bytes=journal.stat().st_size + (1 << 20))
    assert warm.get(directory) is not None
    _planted(directory, 2)  # now over the bound
    with pytest.raises(NotWarm, match="embedded.journal holds .* bytes, over the .* the agent keeps warm"):
        warm.get(directory)
    assert warm.directories() == []
    with pytest.raises(NotWarm, match="over the"):  # never opened again while it is
        warm.get(directory)
    assert warm.directories() == []


def test_a_snapshot_over_the_bound_is_not_kept_warm(tmp_path: Path) -> None:
    """A snapshot is read whole, and its store kept, before the journal is looked at."""
    from eotrust.cli.resident.warm import NotWarm
    from eotrust.ledger.embedded import snapshot_path

    directory = tmp_path / "chain"
    _chain_with_history(directory, blocks=1)
    warm = WarmChains(max_bytes=1 << 20)
    with open(snapshot_path(directory), "wb") as fh:
        fh.truncate(2 << 20)  # sparse: nothing to write, nothing read
    with pytest.raises(NotWarm, match="embedded.snapshot holds"):
        warm.get(directory)
    assert warm.directories() == []


def test_a_chain_whose_journal_lock_is_held_is_not_waited_for(tmp_path: Path) -> None:
    """Before (an audit), opening a chain waited for its journal lock in the agent's only loop:
    a lock held for ever (by anyone who may open the lock file) held every client for ever."""
    import threading

    from eotrust.cli.resident.warm import NotWarm
    from eotrust.store.lock import file_lock

    directory = tmp_path / "chain"
    _chain_with_history(directory, blocks=1)
    warm = WarmChains()
    outcome: list[str] = []

    def get() -> None:
        try:
            outcome.append(f"opened {warm.get(directory) is not None}")
        except NotWarm as exc:
            outcome.append(f"NotWarm: {exc}")

    lock = file_lock(directory / "embedded.lock")
    lock.acquire()
    try:
        worker = threading.Thread(target=get, daemon=True)
        worker.start()
        worker.join(timeout=30)  # returns as soon as get() does
        assert outcome and outcome[0].startswith("NotWarm") and "held by another process" in outcome[0], outcome
    finally:
        lock.release()
    worker.join(timeout=30)
    assert warm.get(directory) is not None  # free again: kept warm
