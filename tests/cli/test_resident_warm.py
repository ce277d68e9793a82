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
