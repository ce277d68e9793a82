"""Task events off the chain: one raw log decoded (:func:`to_event`), one task's history. Every
event of a factory's tasks since a block is :meth:`TaskFactoryClient.events_since`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, TypedDict

from eth_utils.address import to_checksum_address

from eotrust.cid import cid_from_digest
from eotrust.ledger.abi import task_abi
from eotrust.ledger.codec import cid_or_none, hex32, key_or_none
from eotrust.ledger.models import (
    REQUEST_KINDS,
    REQUEST_STATUSES,
    TASK_STATES,
    RequestChanged,
    ResultAdded,
    Started,
    StateChanged,
    TaskCreated,
    TaskEvent,
)

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain, RawLog

TASK_EVENTS = ("StateChanged", "RequestChanged", "Started", "ResultAdded")


class _Where(TypedDict):
    """Where an event sits on the chain."""

    block_number: int
    log_index: int
    tx_hash: str


def _zero_none(value: bytes) -> str | None:
    return None if bytes(value) == bytes(32) else hex32(value)


def to_event(log: RawLog) -> TaskEvent | None:
    """The TaskEvent of one raw log, or None if it is no task event."""
    decoded = task_abi().decode_log(log.topics, log.data)
    if decoded is None:
        return None
    a: dict[str, Any] = decoded.args
    where = _Where(block_number=log.block_number, log_index=log.log_index, tx_hash=log.tx_hash)
    if decoded.name == "TaskCreated":
        return TaskCreated(
            **where,
            task=to_checksum_address(a["task"]),
            party=to_checksum_address(a["submitter"]),
            index=int(a["index"]),
            application_id=hex32(a["applicationId"]),
            application_owner=to_checksum_address(a["applicationOwner"]),
            platform_id=hex32(a["platformId"]),
            platform_owner=to_checksum_address(a["platformOwner"]),
        )
    task = log.address  # a task event names no task: it is the contract that emitted it
    party = to_checksum_address(a["party"])
    if decoded.name == "StateChanged":
        return StateChanged(
            **where,
            task=task,
            party=party,
            old=TASK_STATES[a["from"]],
            new=TASK_STATES[a["to"]],
            cid=cid_or_none(a["cid"]),
        )
    if decoded.name == "RequestChanged":
        return RequestChanged(
            **where,
            task=task,
            party=party,
            kind=REQUEST_KINDS[a["kind"]],
            index=int(a["index"]),
            old=REQUEST_STATUSES[a["from"]],
            new=REQUEST_STATUSES[a["to"]],
            id=_zero_none(a["id"]),
            key=key_or_none(a["key"]),
            cid=cid_or_none(a["cid"]),
        )
    # the contract refuses a zero execution id and a zero result CID
    if decoded.name == "Started":
        return Started(**where, task=task, party=party, execution_id=str(uuid.UUID(bytes=bytes(a["executionId"]))))
    if decoded.name == "ResultAdded":
        return ResultAdded(
            **where,
            task=task,
            party=party,
            owner=to_checksum_address(a["owner"]),
            index=int(a["index"]),
            cid=cid_from_digest(bytes(a["cid"])),
        )
    return None


def task_history(chain: Chain, task: str, *, factory: str, from_block: int, with_time: bool = True) -> list[TaskEvent]:
    """Every event of one task (created by ``factory`` in block ``from_block``), oldest first,
    with block times."""
    abi = task_abi()
    padded = bytes(12) + bytes.fromhex(task[2:])
    logs = chain.logs(
        address=factory, topics=[abi.event_topics["TaskCreated"], padded], from_block=from_block, to_block=from_block
    )
    logs += chain.logs(address=task, from_block=from_block)
    events = [e for e in (to_event(log) for log in logs) if e is not None]
    events.sort(key=lambda e: (e.block_number, e.log_index))
    if with_time:
        times: dict[int, int] = {}
        for i, event in enumerate(events):
            if event.block_number not in times:
                times[event.block_number] = chain.block_timestamp(event.block_number)
            events[i] = event.model_copy(update={"timestamp": times[event.block_number]})
    return events
