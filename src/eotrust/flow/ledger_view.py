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
def cid_of_digest(value: Any) -> str:
    """A catalogue id or CID as the snapshot gives it (``0x`` + 64 hex digits, or already a
    CID) as a CIDv0 — catalogue record ids are CIDs, so their digest is the whole id."""
    from eotrust.cid import cid_from_digest

    if isinstance(value, (bytes, bytearray)):
        return cid_from_digest(bytes(value))
    text = str(value)
    if text.startswith("0x"):
        return cid_from_digest(bytes.fromhex(text[2:]))
    return text


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
    return bool(snap.all_acknowledged)


def recorded_result_cids(snap: Any) -> list[str]:
    return [r.cid for r in snap.results]


def input_cid(request: Any) -> str:
    """The stored, encrypted input a data owner acknowledged a request with."""
    return str(request.input_cid)


def platform_recipient(snap: Any) -> str | None:
    """The platform's age recipient from its acknowledgment, or None before it."""
    return snap.platform_key or None


def results_recipient(snap: Any) -> str:
    return str(snap.results_recipient)


def failure_cid(snap: Any) -> str:
    return str(snap.failure)


# -- moves --------------------------------------------------------------------------------------
def create_task(chain: Any, account: Any, *, results_recipient: str, application: tuple[str, str], platform: tuple[str, str]) -> Any:
    from eotrust.ledger import TaskFactoryClient

    return TaskFactoryClient(chain).create_task(
        account,
        results_recipient=results_recipient,
        application_id=application[0],
        application_owner=application[1],
        platform_id=platform[0],
        platform_owner=platform[1],
    )


def add_requests(task: Any, account: Any, requests: list[tuple[str, str]]) -> list[int]:
    """Resource requests ``(dataset record id, owner)``, in one transaction."""
    return list(task.add_requests(account, requests))


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


def fund_parties(chain: Any, addresses: list[str], *, wei: int = 10**18) -> None:
    """On a JSON-RPC dev chain (anvil), give each party ether from the dev account; the
    embedded chain tops parties up by itself. On a real network parties bring their own."""
    if chain.is_embedded:
        return
    for address in addresses:
        if chain.balance(address) < wei // 10:
            chain.fund(address, wei)


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
        seen.setdefault(event.task, None)
    return list(seen)
