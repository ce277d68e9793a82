"""The platform's store view: private writes over the shared store; and the node's journal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from eotrust.nodes.journal import Journal, SealedResult, TaskJournal
from eotrust.nodes.platform_store import PlatformStore
from eotrust.store import LocalStore

if TYPE_CHECKING:
    from eotrust.settings import Settings


def test_writes_stay_private_reads_fall_through(tmp_path: Path) -> None:
    shared = LocalStore(tmp_path / "shared")
    private = LocalStore(tmp_path / "private")
    view = PlatformStore(private, shared)
    public = shared.put_bytes(b"workflow document")
    secret = view.put_bytes(b"decrypted input")
    assert private.has(secret) and not shared.has(secret)
    assert view.has(public) and view.get_bytes(public) == b"workflow document"
    assert view.get_bytes(secret) == b"decrypted input"
    out = view.get_file(public, tmp_path / "out" / "doc")
    assert out.read_bytes() == b"workflow document"
    view.verify(public)
    assert [o.cid for o in view.list()] == [secret]
    assert (view.size(public), view.size(secret)) == (len(b"workflow document"), len(b"decrypted input"))


def test_journal_round_trip_is_atomic_per_task_and_signed(settings: Settings) -> None:
    from eth_account import Account

    from eotrust.errors import IntegrityError

    owner, other = Account.create(), Account.create()
    chain = "31337-0x" + "12" * 32
    journal = Journal(settings, "p1", signer=owner, platform_id="a" * 64, chain=chain)
    address = "0x" + "ab" * 20
    assert journal.load(address) == TaskJournal(address=address)
    entry = TaskJournal(
        address=address,
        run_cid="QmRun",
        results=[SealedResult(name="a", cid="QmA", plaintext_cid="QmP", size=3, recipient="age1x")],
    )
    journal.save(entry)
    assert Journal(settings, "p1", signer=owner, platform_id="a" * 64, chain=chain).load(address) == entry
    assert not list(journal.path(chain, address).parent.glob(".*"))  # no temporary left behind
    # another chain's journal holds nothing of it (a dev chain started afresh: the same addresses)
    assert Journal(settings, "p1", signer=owner, platform_id="a" * 64, chain="31337-0x" + "34" * 32).load(
        address
    ) == TaskJournal(address=address)
    # another key, another platform, another task's file, another chain's, an edited or a bare entry: refused
    for reader in (
        Journal(settings, "p1", signer=other, platform_id="a" * 64, chain=chain),
        Journal(settings, "p1", signer=owner, platform_id="b" * 64, chain=chain),
    ):
        with pytest.raises(IntegrityError, match="not one this platform's owner signed"):
            reader.load(address)
    path = journal.path(chain, address)
    moved = "0x" + "cd" * 20
    journal.path(chain, moved).write_bytes(path.read_bytes())
    elsewhere = journal.path("31337-0x" + "34" * 32, address)  # copied under another chain's key
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(path.read_bytes())
    with pytest.raises(IntegrityError, match="on this chain"):
        Journal(settings, "p1", signer=owner, platform_id="a" * 64, chain="31337-0x" + "34" * 32).load(address)
    path.write_text(path.read_text().replace("QmRun", "QmRum"))
    for edited in (address, moved):
        with pytest.raises(IntegrityError):
            journal.load(edited)
    path.write_text(entry.model_dump_json())  # the old, unsigned format
    with pytest.raises(IntegrityError):
        journal.load(address)


def test_the_journal_asks_for_its_chain_only_when_first_used(settings: Settings) -> None:
    """A node is made before it reaches its chain: `node run` with the chain away retries with
    backoff, so making its journal must not need the chain (its key is asked on first use)."""
    from eth_account import Account

    from eotrust.errors import BackendUnavailableError

    asked: list[int] = []

    def away() -> str:
        asked.append(1)
        raise BackendUnavailableError("the chain is away")

    journal = Journal(settings, "p1", signer=Account.create(), platform_id="a" * 64, chain=away)
    assert asked == []
    with pytest.raises(BackendUnavailableError):
        journal.load("0x" + "ab" * 20)
    assert asked == [1]
