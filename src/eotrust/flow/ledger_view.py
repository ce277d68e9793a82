"""The task flow's few words with the ledger: catalogue ids and CIDs to and from the contract's
bytes32, request statuses, the tasks a node follows. Everything else is ``eotrust.ledger``'s
TaskClient, used directly."""

from __future__ import annotations

from typing import Any

from eotrust.settings import Settings


def chain_of(settings: Settings) -> Any:
    from eotrust.ledger import Chain

    return Chain.from_settings(settings)


def task_client(chain: Any, address: str) -> Any:
    from eotrust.ledger import TaskClient

    return TaskClient(chain, address)


# -- ids ------------------------------------------------------------------------------------
def digest_of(cid: str) -> bytes:
    """A catalogue record id or any CID as the 32 bytes the contract holds."""
    from eotrust.cid import cid_digest

    return cid_digest(cid)


def cid_of_digest(value: Any) -> str:
    """A bytes32 from the contract (or a CID the client already decoded) as a CIDv0."""
    from eotrust.cid import cid_from_digest

    if isinstance(value, str) and not value.startswith("0x"):
        return value
    if isinstance(value, str):
        value = bytes.fromhex(value[2:])
    return cid_from_digest(bytes(value))


record_id_of = cid_of_digest


# -- the snapshot -----------------------------------------------------------------------------
def state_name(snap: Any) -> str:
    state = snap.state
    return getattr(state, "name", str(state))


def _status(value: Any) -> str:
    return getattr(value, "name", str(value))


def is_requested(status: Any) -> bool:
    return _status(status) == "Requested"


def is_acknowledged(status: Any) -> bool:
    return _status(status) == "Acknowledged"


def all_acknowledged(snap: Any) -> bool:
    return (
        is_acknowledged(snap.application_status)
        and is_acknowledged(snap.platform_status)
        and all(is_acknowledged(r.status) for r in snap.requests)
    )


def recorded_result_cids(snap: Any) -> list[str]:
    return [cid_of_digest(r.cid) for r in snap.results]


def platform_recipient(snap: Any) -> str | None:
    """The platform's age recipient from its acknowledgment, or None before it."""
    return snap.platform_key or None


def results_recipient(snap: Any) -> str:
    return snap.results_recipient


def failure_cid(snap: Any) -> str:
    return cid_of_digest(snap.failure)


# -- moves --------------------------------------------------------------------------------------
def create_task(chain: Any, account: Any, *, results_recipient: str, application: tuple[str, str], platform: tuple[str, str]) -> Any:
    from eotrust.ledger import TaskFactoryClient

    factory = TaskFactoryClient(chain)
    return factory.create_task(
        account,
        results_recipient=results_recipient,
        application_id=digest_of(application[0]),
        application_owner=application[1],
        platform_id=digest_of(platform[0]),
        platform_owner=platform[1],
    )


def add_request(task: Any, account: Any, dataset_id: str, owner: str) -> int:
    return task.add_request(account, digest_of(dataset_id), owner)


def ack_platform(task: Any, account: Any, recipient: str) -> None:
    task.ack_platform(account, recipient)


def ack_request(task: Any, account: Any, index: int, cid: str) -> None:
    task.ack_request(account, index, cid)


def refuse(task: Any, account: Any, kind: str, index: int) -> None:
    if kind == "application":
        task.nack_application(account)
    elif kind == "platform":
        task.nack_platform(account)
    else:
        task.nack_request(account, index)


# -- following the chain ----------------------------------------------------------------------------
def all_task_addresses(chain: Any) -> list[str]:
    from eotrust.ledger import TaskFactoryClient

    return list(TaskFactoryClient(chain).all_tasks())


def block_number(chain: Any) -> int:
    return int(chain.block_number())


def touched_tasks(chain: Any, first: int, last: int) -> list[str]:
    """Addresses of the tasks that events in blocks ``first..last`` touched, in order."""
    seen: dict[str, None] = {}
    for event in chain.events_since(first, to_block=last):
        address = getattr(event, "task", None) or getattr(event, "address", None)
        if address:
            seen.setdefault(address, None)
    return list(seen)
