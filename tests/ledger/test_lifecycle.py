"""Every legal path of a task, and every illegal move rejected with the contract error that
names it: wrong caller for each transition, each transition from each wrong state, double
answers, answers after a refusal, changes after the terminal states, start before all acks."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount
from ledger_helpers import CID_A, CID_B, NewTask, Parties, recipient

from eotrust.errors import InvalidInputError, NotFoundError, PermissionDeniedError, StateError
from eotrust.ledger import (
    Chain,
    ContractRevertError,
    RequestStatus,
    StateChanged,
    TaskClient,
    TaskFactoryClient,
    TaskState,
)

STATES = ["Initialized", "RequestsLocked", "Running", "Finished", "Nacked", "Failed"]


def expect(error: str, fn: Callable[[], object]) -> ContractRevertError:
    with pytest.raises(ContractRevertError) as info:
        fn()
    assert info.value.error_name == error, str(info.value)
    return info.value


# -- legal paths -----------------------------------------------------------------------------
def test_full_lifecycle_to_finished(new_task: NewTask, parties: Parties) -> None:
    p = parties
    task = new_task("Initialized", requests=3)
    snap = task.status()
    assert snap.state is TaskState.Initialized
    assert snap.submitter == p.submitter.address
    assert snap.application_owner == p.app.address and snap.platform_owner == p.platform.address
    assert snap.application_status is RequestStatus.NotRequested
    assert [r.status for r in snap.requests] == [RequestStatus.Requested] * 3

    task.lock(p.submitter)
    snap = task.status()
    assert snap.state is TaskState.RequestsLocked
    assert snap.application_status is snap.platform_status is RequestStatus.Requested

    platform_key = recipient()
    task.ack_application(p.app)
    task.ack_platform(p.platform, platform_key, policy_cid=CID_B)
    for i in range(3):
        task.ack_request(p.data[i], i, CID_B)
    execution = task.start(p.platform, uuid.UUID(int=7))
    assert execution == str(uuid.UUID(int=7))
    assert task.add_result(p.platform, CID_A) == 0
    assert task.add_result(p.platform, CID_B, owner=p.stranger.address) == 1
    task.finish(p.platform)

    snap = task.status()
    assert snap.state is TaskState.Finished and snap.is_terminal
    assert snap.platform_key == platform_key
    assert snap.platform_policy == CID_B
    assert snap.execution_id == execution
    assert [r.input_cid for r in snap.requests] == [CID_B] * 3
    assert [(r.owner, r.cid) for r in snap.results] == [(p.submitter.address, CID_A), (p.stranger.address, CID_B)]
    assert snap.all_acknowledged

    names = [e.name for e in task.history()]
    assert names[0] == "TaskCreated" and names[-1] == "StateChanged"
    assert names.count("RequestChanged") == 3 + 2 + 5  # made (3 + app + platform) and answered (5)


def test_task_without_resource_requests(new_task: NewTask, parties: Parties) -> None:
    task = new_task("Finished", requests=0)
    assert task.status().state is TaskState.Finished


@pytest.mark.parametrize("who", ["application", "platform", "resource"])
def test_any_refusal_nacks_the_task(new_task: NewTask, parties: Parties, who: str) -> None:
    p = parties
    task = new_task("RequestsLocked")
    if who == "application":
        task.nack_application(p.app)
    elif who == "platform":
        task.nack_platform(p.platform)
    else:
        task.ack_application(p.app)
        task.nack_request(p.data[1], 1)
    snap = task.status()
    assert snap.state is TaskState.Nacked
    assert RequestStatus.Refused in [snap.application_status, snap.platform_status, *[r.status for r in snap.requests]]


def test_running_task_can_fail_with_a_reason(new_task: NewTask, parties: Parties) -> None:
    task = new_task("Failed")
    snap = task.status()
    assert snap.state is TaskState.Failed and snap.failure == CID_A
    last = task.history()[-1]
    assert isinstance(last, StateChanged) and last.new is TaskState.Failed and last.cid == CID_A


def test_factory_registry(factory: TaskFactoryClient, new_task: NewTask, parties: Parties) -> None:
    before = factory.task_count()
    mine_before = factory.tasks_of(parties.submitter.address)
    tasks = [new_task("Initialized", requests=0) for _ in range(3)]
    assert factory.task_count() == before + 3
    assert factory.tasks_of(parties.submitter.address) == mine_before + [t.address for t in tasks]
    assert factory.all_tasks()[-3:] == [t.address for t in tasks]
    assert factory.tasks_of(parties.stranger.address) == []


def test_requests_one_at_a_time(new_task: NewTask, parties: Parties) -> None:
    task = new_task("Initialized", requests=0)
    assert task.add_request(parties.submitter, "a", parties.data[0].address) == 0
    assert task.add_requests(parties.submitter, [("b", parties.data[1].address), ("c", parties.data[2].address)]) == [
        1,
        2,
    ]
    assert [r.owner for r in task.status().requests] == [d.address for d in parties.data]


# -- wrong callers ---------------------------------------------------------------------------------
MOVES: dict[str, tuple[str, Callable[[TaskClient, LocalAccount], object]]] = {
    "add_request": ("Initialized", lambda t, a: t.add_request(a, "x", a.address)),
    "lock": ("Initialized", lambda t, a: t.lock(a)),
    "ack_application": ("RequestsLocked", lambda t, a: t.ack_application(a)),
    "nack_application": ("RequestsLocked", lambda t, a: t.nack_application(a)),
    "ack_platform": ("RequestsLocked", lambda t, a: t.ack_platform(a, recipient())),
    "nack_platform": ("RequestsLocked", lambda t, a: t.nack_platform(a)),
    "ack_request": ("RequestsLocked", lambda t, a: t.ack_request(a, 0, CID_B)),
    "nack_request": ("RequestsLocked", lambda t, a: t.nack_request(a, 0)),
    "start": ("RequestsLocked", lambda t, a: t.start(a)),
    "add_result": ("Running", lambda t, a: t.add_result(a, CID_A, owner=a.address)),
    "finish": ("Running", lambda t, a: t.finish(a)),
    "fail": ("Running", lambda t, a: t.fail(a, CID_A)),
}
RIGHT_CALLER = {
    "add_request": "submitter",
    "lock": "submitter",
    "ack_application": "app",
    "nack_application": "app",
    "ack_platform": "platform",
    "nack_platform": "platform",
    "ack_request": "data0",
    "nack_request": "data0",
    "start": "platform",
    "add_result": "platform",
    "finish": "platform",
    "fail": "platform",
}
NOT_ALLOWED = {
    "submitter": "NotSubmitter",
    "app": "NotApplicationOwner",
    "platform": "NotPlatformOwner",
    "data0": "NotRequestOwner",
}


def _party(p: Parties, name: str) -> LocalAccount:
    return {"submitter": p.submitter, "app": p.app, "platform": p.platform, "data0": p.data[0], "stranger": p.stranger}[
        name
    ]


@pytest.fixture(scope="module")
def tasks_by_state(new_task: NewTask) -> dict[str, TaskClient]:
    """One task per state, shared by the read-only rejection tests below."""
    return {state: new_task(state) for state in STATES}


@pytest.mark.parametrize("move", list(MOVES))
def test_wrong_caller_is_rejected(tasks_by_state: dict[str, TaskClient], parties: Parties, move: str) -> None:
    state, fn = MOVES[move]
    task = tasks_by_state[state]
    before = task.status()
    for name in ("submitter", "app", "platform", "data0", "stranger"):
        if name == RIGHT_CALLER[move]:
            continue
        caller = _party(parties, name)
        err = expect(NOT_ALLOWED[RIGHT_CALLER[move]], lambda: fn(task, caller))
        assert isinstance(err, PermissionDeniedError)
        assert caller.address in err.message
    assert task.status() == before


def test_wrong_caller_message_names_the_rule(tasks_by_state: dict[str, TaskClient], parties: Parties) -> None:
    err = expect(
        "NotPlatformOwner", lambda: tasks_by_state["RequestsLocked"].ack_platform(parties.stranger, recipient())
    )
    assert err.message == (
        f"only the platform owner can acknowledge the platform request; you are {parties.stranger.address}"
    )
    assert "NotPlatformOwner" in str(err.hint)


@pytest.mark.parametrize(("move", "state"), [(m, s) for m in MOVES for s in STATES if s != MOVES[m][0]])
def test_move_from_wrong_state_is_rejected(
    tasks_by_state: dict[str, TaskClient], parties: Parties, move: str, state: str
) -> None:
    _, fn = MOVES[move]
    task = tasks_by_state[state]
    before = task.status()
    err = expect("WrongState", lambda: fn(task, _party(parties, RIGHT_CALLER[move])))
    assert isinstance(err, StateError)
    assert state in err.message
    if state in ("Finished", "Nacked", "Failed"):
        assert "final" in err.message
    assert task.status() == before


# -- answers ------------------------------------------------------------------------------------------
def test_double_answers_are_rejected(new_task: NewTask, parties: Parties) -> None:
    p = parties
    task = new_task("RequestsLocked")
    task.ack_application(p.app)
    task.ack_platform(p.platform, recipient())
    task.ack_request(p.data[0], 0, CID_B)
    expect("AlreadyAnswered", lambda: task.ack_application(p.app))
    expect("AlreadyAnswered", lambda: task.nack_application(p.app))
    expect("AlreadyAnswered", lambda: task.ack_platform(p.platform, recipient()))
    expect("AlreadyAnswered", lambda: task.nack_platform(p.platform))
    expect("AlreadyAnswered", lambda: task.ack_request(p.data[0], 0, CID_A))
    err = expect("AlreadyAnswered", lambda: task.nack_request(p.data[0], 0))
    assert "resource request #0 was already answered" in err.message
    assert task.status().requests[0].input_cid == CID_B


def test_ack_after_nack_is_rejected(new_task: NewTask, parties: Parties) -> None:
    p = parties
    task = new_task("RequestsLocked")
    task.nack_request(p.data[0], 0)
    expect("WrongState", lambda: task.ack_application(p.app))
    expect("WrongState", lambda: task.ack_platform(p.platform, recipient()))
    expect("WrongState", lambda: task.ack_request(p.data[1], 1, CID_B))
    expect("WrongState", lambda: task.ack_request(p.data[0], 0, CID_B))


def test_start_before_all_acks_is_rejected(new_task: NewTask, parties: Parties) -> None:
    p = parties
    task = new_task("RequestsLocked")
    err = expect("NotAcknowledged", lambda: task.start(p.platform))
    assert "application request is not acknowledged" in err.message
    task.ack_application(p.app)
    expect("NotAcknowledged", lambda: task.start(p.platform))
    task.ack_platform(p.platform, recipient())
    task.ack_request(p.data[0], 0, CID_B)
    err = expect("NotAcknowledged", lambda: task.start(p.platform))
    assert "resource request #1" in err.message
    task.ack_request(p.data[1], 1, CID_B)
    task.start(p.platform)
    assert task.state() is TaskState.Running


def test_finish_needs_a_result(new_task: NewTask, parties: Parties) -> None:
    task = new_task("Running")
    err = expect("NoResults", lambda: task.finish(parties.platform))
    assert err.hint and "add-result" in err.hint


def test_unknown_request_index(new_task: NewTask, parties: Parties) -> None:
    task = new_task("RequestsLocked")
    err = expect("NoSuchRequest", lambda: task.ack_request(parties.data[0], 7, CID_B))
    assert isinstance(err, NotFoundError)


def test_bad_values_are_rejected(new_task: NewTask, factory: TaskFactoryClient, parties: Parties) -> None:
    p = parties
    with pytest.raises(InvalidInputError):
        task = new_task("Initialized")
        task.add_request(p.submitter, "x", "0x123")
    with pytest.raises(InvalidInputError):
        factory.create_task(
            p.submitter,
            results_recipient="not-a-recipient",
            application_id="a",
            application_owner=p.app.address,
            platform_id="p",
            platform_owner=p.platform.address,
        )
    err = expect(
        "ZeroAddress",
        lambda: factory.create_task(
            p.submitter,
            results_recipient=recipient(),
            application_id="a",
            application_owner="0x" + "00" * 20,
            platform_id="p",
            platform_owner=p.platform.address,
        ),
    )
    assert isinstance(err, InvalidInputError)


def test_status_of_a_non_task(chain: Chain, parties: Parties) -> None:
    with pytest.raises(NotFoundError):
        TaskClient(chain, parties.stranger.address).status()
