"""The embedded chain on disk: a second Chain (or process) sees the first one's tasks, processes
may write at once, a torn journal tail is survived, and opening stays fast."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from eth_account import Account
from ledger_helpers import recipient

from eotrust.ledger import Chain, TaskClient, TaskFactoryClient, TaskState
from eotrust.ledger.embedded import ChainJournal
from eotrust.settings import Settings

SUBMITTER = Account.from_key(b"\x51" * 32)
OWNER = Account.from_key(b"\x52" * 32)

CREATE_TASKS = textwrap.dedent(
    """
    import sys
    from eth_account import Account
    from eotrust.ledger import Chain, TaskFactoryClient
    from eotrust.settings import load_settings
    home, key, n, recipient = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    account = Account.from_key(bytes.fromhex(key))
    factory = TaskFactoryClient(Chain.from_settings(load_settings(home=home)))
    for i in range(n):
        task = factory.create_task(account, results_recipient=recipient, application_id="a",
                                   application_owner=account.address, platform_id="p",
                                   platform_owner=account.address)
        task.add_request(account, f"d{i}", account.address)
        print(task.address, flush=True)
    """
)


def _spawn(settings: Settings, key: bytes, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CREATE_TASKS, str(settings.home), key.hex(), str(n), recipient()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _create(factory: TaskFactoryClient) -> TaskClient:
    return factory.create_task(
        SUBMITTER,
        results_recipient=recipient(),
        application_id="a",
        application_owner=OWNER.address,
        platform_id="p",
        platform_owner=OWNER.address,
    )


def test_a_second_chain_sees_the_first_ones_tasks(settings: Settings) -> None:
    first = Chain.from_settings(settings)
    task = _create(TaskFactoryClient(first))
    task.lock(SUBMITTER)
    second = Chain.from_settings(settings)
    assert TaskClient(second, task.address).state() is TaskState.RequestsLocked
    assert TaskFactoryClient(second).all_tasks() == [task.address]
    # and the first, still open, sees what the second does
    TaskClient(second, task.address).ack_application(OWNER)
    assert task.status().application_status.value == "Acknowledged"


def test_another_process_sees_and_adds_tasks(settings: Settings) -> None:
    chain = Chain.from_settings(settings)
    mine = _create(TaskFactoryClient(chain))
    proc = _spawn(settings, b"\x53" * 32, 2)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    theirs = out.split()
    assert len(theirs) == 2
    factory = TaskFactoryClient(chain)
    assert factory.all_tasks() == [mine.address, *theirs]
    assert TaskClient(chain, theirs[1]).status().requests[0].owner == Account.from_key(b"\x53" * 32).address


def test_processes_writing_at_once(settings: Settings) -> None:
    chain = Chain.from_settings(settings)
    factory = TaskFactoryClient(chain)
    _create(factory)  # deploys the factory first, so that the writers race on tasks only
    procs = [_spawn(settings, bytes([0x60 + i]) * 32, 3) for i in range(3)]
    # this process writes too, meanwhile
    here = [_create(factory).address for _ in range(3)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        outs += out.split()
    everything = factory.all_tasks()
    assert len(everything) == 1 + 3 + 9
    assert set(here + outs) <= set(everything)
    # a fresh process-like open replays the same chain
    again = Chain.from_settings(settings)
    assert again.block_number() == chain.block_number()
    assert TaskFactoryClient(again).all_tasks() == everything


def test_torn_journal_tail_is_ignored_then_cut(settings: Settings) -> None:
    chain = Chain.from_settings(settings)
    task = _create(TaskFactoryClient(chain))
    journal = ChainJournal(settings.chain_dir)
    size = journal.path.stat().st_size
    with open(journal.path, "ab") as fh:
        fh.write(b"EOTJ\x00\x00\x10\x00garbage-of-a-writer-that-died")
    reopened = Chain.from_settings(settings)
    assert TaskClient(reopened, task.address).state() is TaskState.Initialized
    TaskClient(reopened, task.address).lock(SUBMITTER)  # the next write cuts the torn tail
    assert journal.path.stat().st_size > size
    third = Chain.from_settings(settings)
    assert TaskClient(third, task.address).state() is TaskState.RequestsLocked


def test_not_a_journal(settings: Settings) -> None:
    from eotrust.errors import LedgerError

    Path(settings.chain_dir / "embedded.journal").write_bytes(b"something else entirely")
    with pytest.raises(LedgerError, match="not an eotrust chain journal"):
        Chain.from_settings(settings)


@pytest.mark.slow
def test_opening_stays_fast_after_many_transactions(settings: Settings) -> None:
    chain = Chain.from_settings(settings)
    factory = TaskFactoryClient(chain)
    for _ in range(40):
        task = _create(factory)
        task.add_request(SUBMITTER, "d", OWNER.address)
        task.lock(SUBMITTER)
    assert chain.block_number() >= 120
    start = time.perf_counter()
    reopened = Chain.from_settings(settings)
    assert reopened.block_number() == chain.block_number()
    assert len(TaskFactoryClient(reopened).all_tasks()) == 40
    assert time.perf_counter() - start < 3.0


def test_parties_are_funded_on_first_use(settings: Settings) -> None:
    chain = Chain.from_settings(settings)
    assert chain.is_embedded and "embedded" in chain.description
    before = chain.balance(SUBMITTER.address)
    _create(TaskFactoryClient(chain))
    assert before == 0 and chain.balance(SUBMITTER.address) > 0  # funded on first use
