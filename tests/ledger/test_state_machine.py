"""Property: random sequences of calls by random parties, against the contract and against a
plain Python model of the state machine (ledger_model.TaskModel). After every call both agree
on the outcome (the same contract error, or success) and on the whole state."""

from __future__ import annotations

from collections.abc import Callable

from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ledger_helpers import CID_A, CID_B, Parties, recipient
from ledger_model import TaskModel

from eotrust.ledger import ContractRevertError, TaskClient, TaskFactoryClient

MOVES = [
    "add_request",
    "lock",
    "ack_app",
    "nack_app",
    "ack_platform",
    "nack_platform",
    "ack_request",
    "nack_request",
    "start",
    "add_result",
    "finish",
    "fail",
]

# A step is either "advance" (the move that takes the task forward from where the model is)
# or any move; the caller is the party the move is meant for, or (when ``stray``) anyone.
step = st.tuples(
    st.one_of(st.just("advance"), st.just("advance"), st.just("advance"), st.sampled_from(MOVES)),
    st.sampled_from([False, False, False, True]),  # stray caller, now and then
    st.integers(min_value=0, max_value=6),  # the stray caller / a request index
)


def _advance(model: TaskModel, n: int) -> tuple[str, int]:
    """The natural next move of the model's task (n picks among the variants)."""
    if model.state == "Initialized":
        return ("add_request", n) if len(model.requests) < 2 and n % 2 == 0 else ("lock", 0)
    if model.state == "RequestsLocked":
        nack = n == 6  # now and then someone refuses
        if model.app_status == "Requested":
            return ("nack_app" if nack else "ack_app", 0)
        if model.platform_status == "Requested":
            return ("nack_platform" if nack else "ack_platform", 0)
        for i, r in enumerate(model.requests):
            if r.status == "Requested":
                return ("nack_request" if nack else "ack_request", i)
        return ("start", 0)
    if model.state == "Running":
        if model.results == 0 or n % 3 == 0:
            return ("add_result", 0)
        return ("fail", 0) if n == 5 else ("finish", 0)
    return (MOVES[n % len(MOVES)], n % 3)


def _apply(
    task: TaskClient, model: TaskModel, who: LocalAccount, move: str, index: int, p: Parties
) -> tuple[str | None, Callable[[], object]]:
    a = who.address
    if move == "add_request":
        owner = p.data[index % len(p.data)]
        return model.add_request(a, owner.address), lambda: task.add_request(who, f"ds-{index}", owner.address)
    if move == "lock":
        return model.lock(a), lambda: task.lock(who)
    if move in ("ack_app", "nack_app"):
        ack = move == "ack_app"
        return model.answer_application(a, ack), (lambda: task.ack_application(who)) if ack else (
            lambda: task.nack_application(who)
        )
    if move in ("ack_platform", "nack_platform"):
        ack = move == "ack_platform"
        return model.answer_platform(a, ack), (lambda: task.ack_platform(who, recipient())) if ack else (
            lambda: task.nack_platform(who)
        )
    if move in ("ack_request", "nack_request"):
        ack = move == "ack_request"
        return model.answer_request(a, index, ack), (lambda: task.ack_request(who, index, CID_B)) if ack else (
            lambda: task.nack_request(who, index)
        )
    if move == "start":
        return model.start(a), lambda: task.start(who)
    if move == "add_result":
        return model.add_result(a), lambda: task.add_result(who, CID_A)
    if move == "finish":
        return model.finish(a), lambda: task.finish(who)
    assert move == "fail"
    return model.fail(a), lambda: task.fail(who, CID_A)


def _agree(task: TaskClient, model: TaskModel) -> None:
    snap = task.status()
    assert snap.state.value == model.state
    assert snap.application_status.value == model.app_status
    assert snap.platform_status.value == model.platform_status
    assert [(r.owner, r.status.value) for r in snap.requests] == [(r.owner, r.status) for r in model.requests]
    assert len(snap.results) == model.results


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    roles=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    born=st.tuples(st.integers(0, 2), st.booleans()),
    steps=st.lists(step, min_size=4, max_size=16),
)
def test_contract_agrees_with_model(
    factory: TaskFactoryClient,
    parties: Parties,
    roles: tuple[int, int],
    born: tuple[int, bool],
    steps: list[tuple[str, bool, int]],
) -> None:
    p = parties
    pool = [p.submitter, p.app, p.platform, *p.data, p.stranger]
    # the application and platform owners may coincide with each other or the submitter
    app_owner = [p.app, p.submitter, p.platform][roles[0]]
    platform_owner = [p.platform, p.submitter, p.app][roles[1]]
    task = factory.create_task(
        p.submitter,
        results_recipient=recipient(),
        application_id="app",
        application_owner=app_owner.address,
        platform_id="platform",
        platform_owner=platform_owner.address,
        # resource requests made at creation (owners in the clone's code), and locked at once
        requests=[(f"ds-born-{i}", p.data[i].address) for i in range(born[0])],
        lock=born[1],
    )
    model = TaskModel(submitter=p.submitter.address, app_owner=app_owner.address, platform_owner=platform_owner.address)
    for i in range(born[0]):
        assert model.add_request(p.submitter.address, p.data[i].address) is None
    if born[1]:
        assert model.lock(p.submitter.address) is None
    _agree(task, model)
    for kind, stray, n in steps:
        move, index = _advance(model, n) if kind == "advance" else (kind, n % 3)
        meant_for = {
            "add_request": p.submitter,
            "lock": p.submitter,
            "ack_app": app_owner,
            "nack_app": app_owner,
            "ack_platform": platform_owner,
            "nack_platform": platform_owner,
        }.get(move, platform_owner)
        if move in ("ack_request", "nack_request") and index < len(model.requests):
            meant_for = model.requests[index].owner_account(pool)
        who = pool[n % len(pool)] if stray else meant_for
        expected, call = _apply(task, model, who, move, index, p)
        try:
            call()
            got = None
        except ContractRevertError as exc:
            got = exc.error_name
        assert got == expected, f"{move} by {who.address} (index {index}): contract {got}, model {expected}"
        _agree(task, model)
    event(f"ended {model.state}")
