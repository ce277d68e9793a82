"""status() reads the task's snapshot and then its logs: a result another process adds between
the two reads must give a consistent snapshot (read again), not a LedgerError; logs that stay
short of the counted results (a node that pruned them) are still refused."""

from __future__ import annotations

from typing import Any

import pytest
from ledger_helpers import CID_A, CID_B, Parties

from eotrust.errors import LedgerError
from eotrust.ledger import TaskClient


def test_a_result_added_between_the_two_reads_is_read_consistently(
    new_task: Any, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    task: TaskClient = new_task("Running")
    task.add_result(parties.platform, CID_A)
    chain = task.chain
    real_logs = chain.logs
    raced: list[bool] = []

    def logs_after_a_move(**kwargs: Any) -> Any:
        if kwargs.get("address") == task.address and not raced:
            raced.append(True)
            monkeypatch.setattr(chain, "logs", real_logs)
            task.add_result(parties.platform, CID_B)  # mined after the snapshot was read
        return real_logs(**kwargs)

    monkeypatch.setattr(chain, "logs", logs_after_a_move)
    snap = task.status()
    assert raced
    assert [r.cid for r in snap.results] == [CID_A, CID_B]


def test_logs_short_of_the_counted_results_are_refused(
    new_task: Any, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    task: TaskClient = new_task("Running")
    task.add_result(parties.platform, CID_A)
    chain = task.chain
    real_logs = chain.logs

    def pruned(**kwargs: Any) -> Any:
        logs = real_logs(**kwargs)
        return logs if kwargs.get("address") != task.address else logs[:-1]  # the ResultAdded log is gone

    monkeypatch.setattr(chain, "logs", pruned)
    with pytest.raises(LedgerError, match="do not match its state"):
        task.status()
