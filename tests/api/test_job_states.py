"""Every state a task contract can be in is a job status: a state missing from the map was a
500 on ``/jobs`` and ``/tasks`` for every task in it (an Expired paid task, since the escrow
can end one at its quote's deadline)."""

from __future__ import annotations

from eotrust.api.flowops import PROGRESS_OF_STATE, STATUS_OF_STATE
from eotrust.ledger import TaskState

#: OGC API - Processes statusCode values.
OGC_STATUSES = {"accepted", "running", "successful", "failed", "dismissed"}


def test_every_contract_state_is_a_job_status() -> None:
    assert set(STATUS_OF_STATE) == set(TaskState) == set(PROGRESS_OF_STATE)
    assert set(STATUS_OF_STATE.values()) <= OGC_STATUSES
    for state in TaskState:
        assert (PROGRESS_OF_STATE[state] == 100) == state.is_terminal, state
    assert STATUS_OF_STATE[TaskState.Expired] == "dismissed"
