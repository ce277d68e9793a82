"""The TaskFactory: where it is on a chain, creating tasks, and its registry.

Where the factory is: ``settings.factory_address`` (``EOTRUST_FACTORY_ADDRESS``) if set; else
the one recorded under the home for this chain (``chain/deployments.json``, keyed by chain id
and genesis hash, so a restarted dev node with a new genesis gets a new one); else none yet,
and the first :meth:`TaskFactoryClient.create_task` deploys it (on the embedded chain from the
dev account, on a JSON-RPC chain from the creating party's account) and records it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from eotrust.errors import InvalidInputError, LedgerError, NotFoundError
from eotrust.ledger.abi import load_artifact, task_abi
from eotrust.ledger.codec import catalog_id, checksum_address, recipient_to_key
from eotrust.limits import json_loads
from eotrust.store.atomic import write_atomic
from eotrust.store.lock import file_lock

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from eotrust.ledger.chain import Chain
    from eotrust.ledger.models import TaskEvent
    from eotrust.ledger.task import TaskClient

PAGE = 500
#: EIP-1167's minimal proxy around the implementation's address; a task's runtime code is this
#: followed by its clone arguments (see Task.sol): CLONE_FIXED_ARGS bytes of fixed fields, a
#: one-byte count of the resource requests made at creation and 20 bytes per owner of those.
CLONE_PREFIX = bytes.fromhex("363d3d373d3d3d363d73")
CLONE_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")
#: submitter, application owner, platform owner, creation block, and (escrow hook) one byte:
#: whether the task is paid.
CLONE_FIXED_ARGS = 20 + 20 + 20 + 4 + 1


def clone_args_length(code: bytes, proxy_length: int) -> int | None:
    """How long a clone's arguments must be, read from the request count inside them (None: too short)."""
    at = proxy_length + CLONE_FIXED_ARGS
    if len(code) <= at:
        return None
    return CLONE_FIXED_ARGS + 1 + 20 * code[at]


@dataclass(frozen=True)
class TaskOrigin:
    """Whether a contract is one of this factory's tasks: in its registry (which only the
    factory's own CREATEs can fill), and running the factory's clone of its implementation."""

    factory: str | None
    in_registry: bool
    is_clone: bool
    detail: str

    @property
    def genuine(self) -> bool:
        return self.in_registry and self.is_clone


class Deployments:
    """``<home>/chain/deployments.json``: the factory of each chain this home has used."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "deployments.json"
        self._lock_path = directory / "deployments.lock"

    @contextmanager
    def locked(self) -> Iterator[None]:
        with file_lock(self._lock_path):
            yield

    def read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json_loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError:
            raise LedgerError(
                f"{self.path} is not valid JSON", hint="move it away; the factory is redeployed"
            ) from None
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.read().get(key)

    def put(self, key: str, record: dict[str, Any]) -> None:
        data = self.read()
        data[key] = record
        write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True).encode(), durable=True)


def _artifact_tag() -> str:
    return "0x" + keccak(load_artifact("TaskFactory").bytecode).hex()[:16]


class TaskFactoryClient:
    """The factory on one chain. ``address`` None means: resolve as described above."""

    def __init__(self, chain: Chain, address: str | None = None) -> None:
        self.chain = chain
        self._address = checksum_address(address, what="factory address") if address else None
        self._deployed_block = 0
        self._resolved = self._address is not None
        self._known: set[str] = set()
        self._abi = task_abi()

    # -- where ------------------------------------------------------------------------------
    @property
    def _key(self) -> str:
        return self.chain.key

    def _deployments(self) -> Deployments:
        return Deployments(self.chain.settings.chain_dir)

    def _resolve(self) -> None:
        if self._resolved:
            return
        configured = self.chain.settings.factory_address
        if configured:
            address = checksum_address(configured, what="factory_address")
            if not self.chain.code(address):
                raise LedgerError(
                    f"no contract at the configured factory address {address} on {self.chain.description}",
                    hint="fix EOTRUST_FACTORY_ADDRESS, or unset it to deploy one",
                )
            self._address, self._resolved = address, True
            return
        record = self._deployments().get(self._key)
        if record and record.get("artifact") == _artifact_tag() and self.chain.code(record["factory"]):
            self._address = to_checksum_address(record["factory"])
            self._deployed_block = int(record.get("block", 0))
            self._resolved = True

    @property
    def address(self) -> str | None:
        """The factory's address, or None while none is deployed on this chain."""
        self._resolve()
        return self._address

    @property
    def deployed_block(self) -> int:
        self._resolve()
        return self._deployed_block

    def ensure_deployed(self, account: LocalAccount) -> str:
        """The factory's address, deploying and recording it first if there is none."""
        if self.address is not None:
            return self._address  # type: ignore[return-value]
        deployments = self._deployments()
        with deployments.locked():
            self._resolved = False
            if self.address is not None:  # another process deployed it meanwhile
                return self._address
            deployer = self.chain.dev_account() if self.chain.backend.deploys_from_dev else account
            result = self.chain.deploy(
                deployer, load_artifact("TaskFactory").bytecode, action="deploy the task factory"
            )
            assert result.contract_address is not None
            deployments.put(
                self._key,
                {
                    "factory": result.contract_address,
                    "block": result.block_number,
                    "tx": result.tx_hash,
                    "artifact": _artifact_tag(),
                    "chain": self.chain.description,
                    "deployed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
            self._address, self._deployed_block, self._resolved = result.contract_address, result.block_number, True
            return result.contract_address

    # -- calls ----------------------------------------------------------------------------------
    def _call(self, name: str, *args: Any) -> tuple[Any, ...]:
        address = self.address
        if address is None:
            raise NotFoundError(f"no task factory on {self.chain.description} yet", hint="create a task first")
        data = self.chain.call(address, self._abi.encode_call(name, *args), action=f"read the factory ({name})")
        return self._abi.decode_output(name, data)

    def create_task(
        self,
        account: LocalAccount,
        *,
        results_recipient: str,
        application_id: str | bytes,
        application_owner: str,
        platform_id: str | bytes,
        platform_owner: str,
        requests: Sequence[tuple[str | bytes, str]] = (),
        lock: bool = False,
        paid: bool = False,
    ) -> TaskClient:
        """Create a task owned by ``account`` for this application and platform; results
        will be sealed for ``results_recipient`` (an ``age1…`` recipient).

        ``requests`` (``(dataset_id, owner)`` pairs) are made at creation, in the same
        transaction, their owners kept in the clone's code (cheaper than ``add_requests``
        later); ``lock`` locks the task in that transaction too. A ``paid`` task is locked
        only by funding it and finished only by settling it (:mod:`eotrust.ledger.escrow`), so
        ``paid`` with ``lock`` is refused."""
        from eotrust.ledger.task import TaskClient

        if paid and lock:
            raise InvalidInputError("a paid task is locked by funding it (eotrust.ledger.escrow), not at creation")
        address = self.ensure_deployed(account)
        head = (
            recipient_to_key(results_recipient),
            catalog_id(application_id),
            checksum_address(application_owner, what="application owner"),
            catalog_id(platform_id),
            checksum_address(platform_owner, what="platform owner"),
        )
        if requests or lock:
            data = self._abi.encode_call(
                "createTaskWithRequests",
                *head,
                [catalog_id(d) for d, _ in requests],
                [checksum_address(o, what="dataset owner") for _, o in requests],
                bool(lock),
                bool(paid),
            )
        else:
            data = self._abi.encode_call("createTask", *head, bool(paid))
        result = self.chain.transact(account, to=address, data=data, action="create a task")
        for log in result.logs:
            decoded = self._abi.decode_log(log.topics, log.data)
            if decoded is not None and decoded.name == "TaskCreated" and log.address == address:
                task = TaskClient(self.chain, to_checksum_address(decoded.args["task"]), factory=self)
                task.last_transaction = result
                self._known.add(task.address)
                return task
        raise LedgerError("the factory created no task (no TaskCreated event)")

    # -- registry -------------------------------------------------------------------------------
    def task_count(self) -> int:
        if self.address is None:
            return 0
        return int(self._call("taskCount")[0])

    def all_tasks(self) -> list[str]:
        """Every task of this factory, oldest first."""
        if self.address is None:
            return []
        count = self.task_count()
        tasks: list[str] = []
        for start in range(0, count, PAGE):
            tasks += [to_checksum_address(a) for a in self._call("tasks", start, PAGE)[0]]
        self._known.update(tasks)
        return tasks

    def tasks_of(self, owner: str) -> list[str]:
        """The tasks ``owner`` submitted, oldest first (from the factory's TaskCreated events,
        whose ``submitter`` is indexed)."""
        address = self.address
        if address is None:
            return []
        padded = bytes(12) + bytes.fromhex(checksum_address(owner, what="owner")[2:])
        logs = self.chain.logs(
            address=address,
            topics=[self._abi.event_topics["TaskCreated"], None, padded],
            from_block=self.deployed_block,
        )
        return [to_checksum_address(log.topics[1][12:]) for log in logs]

    def known_tasks(self, also: set[str] | None = None) -> set[str]:
        """Addresses of this factory's tasks (refreshed from the chain when asked about new ones)."""
        if also:
            self._known.update(also)
        self.all_tasks()
        return set(self._known)

    def events_since(self, block: int = 0, to_block: int | None = None) -> list[TaskEvent]:
        """Every event of this factory's tasks (creation, state, requests, start, results) in
        blocks ``block..to_block`` (inclusive; default: the latest), in chain order.

        Task events are taken only from tasks the factory created (so no other contract can
        forge one); the factory's own TaskCreated events come first within their block. A node
        resumes after a restart by calling this with the block after the last one it handled
        (see :meth:`Chain.block_number`)."""
        from eotrust.ledger.events import TASK_EVENTS, to_event

        address = self.address
        if address is None:
            return []
        chain = self.chain
        from_block = max(block, self.deployed_block)
        abi = task_abi()
        created = chain.logs(
            address=address, topics=[abi.event_topics["TaskCreated"]], from_block=from_block, to_block=to_block
        )
        task_logs = chain.logs(
            topics=[[abi.event_topics[name] for name in TASK_EVENTS]], from_block=from_block, to_block=to_block
        )
        events = [e for e in (to_event(log) for log in created) if e is not None]
        known = self.known_tasks({e.task for e in events})
        for log in task_logs:
            if log.address not in known:
                continue
            event = to_event(log)
            if event is not None:
                events.append(event)
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events

    def is_task(self, address: str) -> bool:
        address = to_checksum_address(address)
        return address in self._known or address in self.known_tasks()

    def implementation(self) -> str:
        """The Task contract every clone of this factory delegates to."""
        return to_checksum_address(self._call("implementation")[0])

    def escrow(self) -> str:
        """The Escrow of this factory's tasks (created by the Task implementation)."""
        data = self.chain.call(self.implementation(), self._abi.encode_call("escrow"), action="read the escrow address")
        return to_checksum_address(self._abi.decode_output("escrow", data)[0])

    def origin(self, address: str) -> TaskOrigin:
        """Did this factory create the contract at ``address``? (See :class:`TaskOrigin`.)"""
        address = checksum_address(address, what="task address")
        factory = self.address
        if factory is None:
            return TaskOrigin(None, False, False, f"no task factory on {self.chain.description}")
        in_registry = address in self.known_tasks()
        implementation = self.implementation()
        code = self.chain.code(address)
        expected = CLONE_PREFIX + bytes.fromhex(implementation[2:]) + CLONE_SUFFIX
        is_clone = code[: len(expected)] == expected and len(code) == len(expected) + (
            clone_args_length(code, len(expected)) or -1
        )
        detail = (
            f"factory {factory}: {'in' if in_registry else 'NOT in'} its registry; code "
            + ("is" if is_clone else f"is NOT ({len(code)} bytes)")
            + f" the EIP-1167 proxy to {implementation}"
        )
        return TaskOrigin(factory, in_registry, is_clone, detail)
