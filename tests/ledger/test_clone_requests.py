"""Resource requests made at creation (owners in the clone's code), the task locked in the
creation transaction, batched acknowledgements, and what the status reads from events: the
attacks first — initialize by anyone but the factory, bad owners and lengths, a batch that
names another owner's request — then the legal path."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from ledger_helpers import CID_A, CID_B, Parties, recipient

from eotrust.errors import InvalidInputError, PermissionDeniedError
from eotrust.ledger import (
    ContractRevertError,
    RequestChanged,
    RequestStatus,
    StateChanged,
    TaskClient,
    TaskFactoryClient,
    TaskState,
)
from eotrust.ledger.abi import task_abi

ZERO = "0x" + "00" * 20


def expect(error: str, fn: Callable[[], object]) -> ContractRevertError:
    with pytest.raises(ContractRevertError) as info:
        fn()
    assert info.value.error_name == error, str(info.value)
    return info.value


def _create(factory: TaskFactoryClient, p: Parties, owners: list[str], *, lock: bool) -> TaskClient:
    return factory.create_task(
        p.submitter,
        results_recipient=recipient(),
        application_id="app",
        application_owner=p.app.address,
        platform_id="platform",
        platform_owner=p.platform.address,
        requests=[(f"ds-{i}", o) for i, o in enumerate(owners)],
        lock=lock,
    )


def test_only_the_factory_initializes_and_only_at_creation(factory: TaskFactoryClient, parties: Parties) -> None:
    p = parties
    task = _create(factory, p, [p.data[0].address], lock=False)
    before = task.status()
    data = task_abi().encode_call("initialize", [bytes(31) + b"\x01"], True)
    for who in (p.submitter, p.stranger):
        err = expect(
            "NotFactory", lambda: task.chain.transact(who, to=task.address, data=data, action="initialize the task")
        )
        assert isinstance(err, PermissionDeniedError)
    assert task.status() == before  # nothing moved: still Initialized with its one request


def test_bad_requests_at_creation_are_rejected(factory: TaskFactoryClient, parties: Parties) -> None:
    p = parties
    count = factory.task_count()
    err = expect("ZeroAddress", lambda: _create(factory, p, [p.data[0].address, ZERO], lock=True))
    assert isinstance(err, InvalidInputError)
    data = task_abi().encode_call(
        "createTaskWithRequests",
        bytes(31) + b"\x01",
        bytes(31) + b"\x02",
        p.app.address,
        bytes(31) + b"\x03",
        p.platform.address,
        [bytes(31) + b"\x04"],
        [p.data[0].address, p.data[1].address],
        False,
        False,
    )
    expect(
        "LengthMismatch",
        lambda: factory.chain.transact(p.submitter, to=factory.address, data=data, action="create a task"),
    )
    data = task_abi().encode_call(
        "createTaskWithRequests",
        bytes(31) + b"\x01",
        bytes(31) + b"\x02",
        p.app.address,
        bytes(31) + b"\x03",
        p.platform.address,
        [bytes(32)],
        [p.data[0].address],
        False,
        False,
    )
    expect(
        "MissingId", lambda: factory.chain.transact(p.submitter, to=factory.address, data=data, action="create a task")
    )
    assert factory.task_count() == count  # nothing half-made


def test_a_batch_naming_another_owners_request_changes_nothing(factory: TaskFactoryClient, parties: Parties) -> None:
    p = parties
    d0, d1 = p.data[0], p.data[1]
    task = _create(factory, p, [d0.address, d0.address, d1.address], lock=True)
    expect("NotRequestOwner", lambda: task.ack_requests(d0, [(0, CID_B), (2, CID_B)]))
    expect(
        "MissingCid",
        lambda: task.chain.transact(
            d0,
            to=task.address,
            data=task_abi().encode_call("ackRequests", [0, 1], [bytes(31) + b"\x01", bytes(32)]),
            action="acknowledge",
        ),
    )
    expect(
        "LengthMismatch",
        lambda: task.chain.transact(
            d0,
            to=task.address,
            data=task_abi().encode_call("ackRequests", [0, 1], [bytes(31) + b"\x01"]),
            action="acknowledge",
        ),
    )
    assert [r.status for r in task.status().requests] == [RequestStatus.Requested] * 3
    task.ack_requests(d0, [(0, CID_B), (1, CID_A)])
    expect("AlreadyAnswered", lambda: task.ack_request(d0, 1, CID_B))
    snap = task.status()
    assert [r.status for r in snap.requests] == [
        RequestStatus.Acknowledged,
        RequestStatus.Acknowledged,
        RequestStatus.Requested,
    ]
    assert [r.input_cid for r in snap.requests] == [CID_B, CID_A, None]


def test_created_locked_with_requests_then_more_are_refused(factory: TaskFactoryClient, parties: Parties) -> None:
    p = parties
    task = _create(factory, p, [p.data[0].address, p.data[1].address], lock=True)
    snap = task.status()
    assert snap.state is TaskState.RequestsLocked
    assert snap.application_status is RequestStatus.Requested and snap.platform_status is RequestStatus.Requested
    assert [(r.owner, r.status) for r in snap.requests] == [
        (p.data[0].address, RequestStatus.Requested),
        (p.data[1].address, RequestStatus.Requested),
    ]
    expect("WrongState", lambda: task.add_request(p.submitter, "late", p.data[2].address))
    expect("WrongState", lambda: task.lock(p.submitter))
    history = [(e.name, e.new if isinstance(e, (StateChanged, RequestChanged)) else None) for e in task.history()]
    assert history[:5] == [
        ("TaskCreated", None),
        ("RequestChanged", "Requested"),
        ("RequestChanged", "Requested"),
        ("StateChanged", "RequestsLocked"),
        ("RequestChanged", "Requested"),
    ]


def test_requests_at_creation_and_added_later_together(factory: TaskFactoryClient, parties: Parties) -> None:
    p = parties
    task = _create(factory, p, [p.data[0].address], lock=False)
    assert task.add_requests(p.submitter, [("later", p.data[1].address)]) == [1]
    task.lock(p.submitter)
    task.ack_application(p.app)
    task.ack_platform(p.platform, recipient(), CID_A)
    expect("NotRequestOwner", lambda: task.ack_request(p.data[1], 0, CID_B))
    expect("NotRequestOwner", lambda: task.ack_request(p.data[0], 1, CID_B))
    task.ack_request(p.data[0], 0, CID_B)
    expect("NotAcknowledged", lambda: task.start(p.platform))
    task.ack_request(p.data[1], 1, CID_A)
    execution = task.start(p.platform)
    task.add_result(p.platform, CID_A)
    task.add_result(p.platform, CID_B, owner=p.data[0].address)
    task.finish(p.platform)
    snap = task.status()
    assert snap.state is TaskState.Finished and snap.execution_id == execution
    assert snap.platform_policy == CID_A and snap.platform_key is not None
    assert [r.id for r in snap.requests] == [task_id("ds-0"), task_id("later")]
    assert [(r.owner, r.cid) for r in snap.results] == [(p.submitter.address, CID_A), (p.data[0].address, CID_B)]


def task_id(name: str) -> str:
    from eotrust.ledger.codec import catalog_id

    return "0x" + catalog_id(name).hex()
