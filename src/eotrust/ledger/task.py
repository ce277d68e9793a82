"""TaskClient: every move of one task contract as a typed method, its snapshot and history.

Each move takes the acting party's ``LocalAccount`` (``party.account``) and signs with it;
the contract decides whether that party may make the move now, and a refusal arrives as an
EotrustError saying who may and why (:mod:`eotrust.ledger.reverts`). Each move's transaction
(hash, block, gas) is kept in :attr:`TaskClient.last_transaction`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from eotrust.errors import LedgerError, NotFoundError
from eotrust.ledger.abi import task_abi
from eotrust.ledger.codec import (
    catalog_id,
    checksum_address,
    cid_or_none,
    cid_to_bytes32,
    execution_id_bytes,
    execution_id_or_none,
    hex32,
    key_or_none,
    key_to_recipient,
    recipient_to_key,
)
from eotrust.ledger.models import (
    REQUEST_STATUSES,
    TASK_STATES,
    RequestStatus,
    ResourceRequest,
    TaskEvent,
    TaskResult,
    TaskSnapshot,
    TaskState,
)

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain, TxResult

ZERO32 = bytes(32)
# the contract's Kind and Status values
_PLATFORM, _RESOURCE = 1, 2
_REQUESTED, _ACKNOWLEDGED = 1, 2


#: How many times status() reads the snapshot and the logs before believing they disagree.
_READ_ATTEMPTS = 3


@dataclass(frozen=True)
class TaskGlance:
    """A task's state, its platform owner and whether every request is acknowledged."""

    state: TaskState
    platform_owner: str
    all_acknowledged: bool


class _LogsAhead(Exception):
    """The task's logs and its snapshot disagree (internal: status() reads the pair again)."""


class TaskClient:
    """One task contract on ``chain`` at ``address``."""

    def __init__(self, chain: Chain, address: str, *, factory: object | None = None) -> None:
        """``factory`` is accepted for callers that have one; a task names its own factory."""
        self.chain = chain
        self.address = checksum_address(address, what="task address")
        self._abi = task_abi()
        self.last_transaction: TxResult | None = None

    def __repr__(self) -> str:
        return f"TaskClient({self.address})"

    # -- plumbing -----------------------------------------------------------------------------
    def _tx(self, account: LocalAccount, function: str, *args: Any, action: str) -> TxResult:
        data = self._abi.encode_call(function, *args)
        result = self.chain.transact(account, to=self.address, data=data, action=action)
        self.last_transaction = result
        return result

    def _call(self, function: str, *args: Any) -> tuple[Any, ...]:
        data = self.chain.call(self.address, self._abi.encode_call(function, *args), action=f"read task {self.address}")
        if not data:
            self._no_task()
        return self._abi.decode_output(function, data)

    def _no_task(self) -> None:
        if not self.chain.code(self.address):
            raise NotFoundError(f"there is no contract at {self.address} on {self.chain.description}")
        raise LedgerError(f"{self.address} is not an eotrust task")

    def _logged(self, result: TxResult, event: str, field: str) -> list[int]:
        values = []
        for log in result.logs:
            decoded = self._abi.decode_log(log.topics, log.data)
            if decoded is not None and decoded.name == event and log.address == self.address:
                values.append(int(decoded.args[field]))
        return values

    # -- reading ----------------------------------------------------------------------------------
    def state(self) -> TaskState:
        return TASK_STATES[int(self._call("state")[0])]

    def glance(self) -> TaskGlance:
        """What the contract itself holds about who must move next: one ``snapshot()`` call,
        no logs (:meth:`status` reads the task's logs from its creation block to the head)."""
        (s,) = self._call("snapshot")
        (_, _, state, _, app_status, plat_owner, plat_status, _, requests, _) = s
        statuses = [app_status, plat_status, *(status for _, status in requests)]
        return TaskGlance(
            state=TASK_STATES[state],
            platform_owner=to_checksum_address(plat_owner),
            all_acknowledged=all(REQUEST_STATUSES[x] is RequestStatus.Acknowledged for x in statuses),
        )

    def status(self) -> TaskSnapshot:
        """Everything the task holds: what the contract checks with (one ``snapshot()``
        call) and the data written only to events (catalogue ids, keys, CIDs, the execution
        id), read from the factory's TaskCreated and the task's own logs since its creation
        block. The two must agree (as many results logged as counted, every request's id),
        else a LedgerError. The snapshot and the logs are two reads: a move mined between them
        (another process's result) shows as more logged than counted, so the pair is read
        again, a few times, before the disagreement is believed."""
        for _ in range(_READ_ATTEMPTS - 1):
            try:
                return self._status_once()
            except _LogsAhead:
                continue
        try:
            return self._status_once()
        except _LogsAhead as exc:
            raise LedgerError(str(exc), hint="the node may have pruned old logs; use an archive node") from None

    def _status_once(self) -> TaskSnapshot:
        (s,) = self._call("snapshot")
        (factory, submitter, state, app_owner, app_status, plat_owner, plat_status, created, requests, result_count) = s
        task_created = self.chain.logs(
            address=factory,
            topics=[self._abi.event_topics["TaskCreated"], bytes(12) + bytes.fromhex(self.address[2:])],
            from_block=int(created),
            to_block=int(created),
        )
        if len(task_created) != 1:
            raise LedgerError(f"the creation event of task {self.address} is missing from block {created}")
        made = self._abi.decode_log(task_created[0].topics, task_created[0].data)
        assert made is not None
        ids: dict[int, bytes] = {}
        inputs: dict[int, bytes] = {}
        platform_key = platform_policy = ZERO32
        execution_id = bytes(16)
        failure = ZERO32
        results: dict[int, tuple[str, bytes]] = {}
        for log in self.chain.logs(address=self.address, from_block=int(created)):
            decoded = self._abi.decode_log(log.topics, log.data)
            if decoded is None:
                continue
            a = decoded.args
            if decoded.name == "RequestChanged":
                kind, to = int(a["kind"]), int(a["to"])
                if kind == _RESOURCE and to == _REQUESTED:
                    ids[int(a["index"])] = a["id"]
                elif kind == _RESOURCE and to == _ACKNOWLEDGED:
                    inputs[int(a["index"])] = a["cid"]
                elif kind == _PLATFORM and to == _ACKNOWLEDGED:
                    platform_key, platform_policy = a["key"], a["cid"]
            elif decoded.name == "Started":
                execution_id = a["executionId"]
            elif decoded.name == "ResultAdded":
                results[int(a["index"])] = (to_checksum_address(a["owner"]), a["cid"])
            elif decoded.name == "StateChanged" and TASK_STATES[int(a["to"])] is TaskState.Failed:
                failure = a["cid"]
        if len(results) != int(result_count) or any(i not in ids for i in range(len(requests))):
            raise _LogsAhead(
                f"the logs of task {self.address} do not match its state "
                f"({len(results)} results logged, {result_count} counted; {len(ids)} of {len(requests)} requests logged)"
            )
        return TaskSnapshot(
            address=self.address,
            submitter=to_checksum_address(submitter),
            state=TASK_STATES[state],
            results_recipient=key_to_recipient(made.args["resultsKey"]),
            application_id=hex32(made.args["applicationId"]),
            application_owner=to_checksum_address(app_owner),
            application_status=REQUEST_STATUSES[app_status],
            platform_id=hex32(made.args["platformId"]),
            platform_owner=to_checksum_address(plat_owner),
            platform_status=REQUEST_STATUSES[plat_status],
            platform_key=key_or_none(platform_key),
            platform_policy=cid_or_none(platform_policy),
            execution_id=execution_id_or_none(execution_id),
            failure=cid_or_none(failure),
            requests=[
                ResourceRequest(
                    index=i,
                    owner=to_checksum_address(owner),
                    status=REQUEST_STATUSES[status],
                    id=hex32(ids[i]),
                    input_cid=cid_or_none(inputs.get(i, ZERO32)),
                )
                for i, (owner, status) in enumerate(requests)
            ],
            results=[
                TaskResult(index=i, owner=results[i][0], cid=cid_or_none(results[i][1]) or "") for i in sorted(results)
            ],
        )

    def history(self) -> list[TaskEvent]:
        """Every event of this task, oldest first, with block times."""
        from eotrust.ledger.events import task_history

        (s,) = self._call("snapshot")
        return task_history(self.chain, self.address, factory=to_checksum_address(s[0]), from_block=int(s[7]))

    # -- submitter, while Initialized ---------------------------------------------------------------
    def add_request(self, account: LocalAccount, dataset_id: str | bytes, owner: str) -> int:
        """Ask ``owner`` for the dataset ``dataset_id``; returns the request's index."""
        result = self._tx(
            account,
            "addRequest",
            catalog_id(dataset_id),
            checksum_address(owner, what="dataset owner"),
            action="add a resource request",
        )
        return self._logged(result, "RequestChanged", "index")[0]

    def add_requests(self, account: LocalAccount, requests: Sequence[tuple[str | bytes, str]]) -> list[int]:
        """Several resource requests ``(dataset_id, owner)`` in one transaction; their indices."""
        if not requests:
            return []
        result = self._tx(
            account,
            "addRequests",
            [catalog_id(d) for d, _ in requests],
            [checksum_address(o, what="dataset owner") for _, o in requests],
            action="add resource requests",
        )
        return self._logged(result, "RequestChanged", "index")

    def lock(self, account: LocalAccount) -> None:
        """Close the configuration; every owner is now asked to answer."""
        self._tx(account, "lock", action="lock the requests")

    # -- owners, while RequestsLocked ------------------------------------------------------------------
    def ack_application(self, account: LocalAccount) -> None:
        self._tx(account, "ackApplication", action="acknowledge the application request")

    def nack_application(self, account: LocalAccount) -> None:
        self._tx(account, "nackApplication", action="refuse the application request")

    def ack_platform(self, account: LocalAccount, recipient: str, policy_cid: str | None = None) -> None:
        """Acknowledge with the platform's age ``recipient`` (inputs are sealed for it) and,
        optionally, the CID of its execution policy."""
        policy = cid_to_bytes32(policy_cid) if policy_cid else ZERO32
        self._tx(account, "ackPlatform", recipient_to_key(recipient), policy, action="acknowledge the platform request")

    def nack_platform(self, account: LocalAccount) -> None:
        self._tx(account, "nackPlatform", action="refuse the platform request")

    def ack_request(self, account: LocalAccount, index: int, input_cid: str) -> None:
        """Acknowledge resource request ``index`` with the CID of the stored, encrypted input."""
        self._tx(
            account,
            "ackRequest",
            int(index),
            cid_to_bytes32(input_cid),
            action=f"acknowledge resource request #{index}",
        )

    def ack_requests(self, account: LocalAccount, inputs: Sequence[tuple[int, str]]) -> None:
        """Acknowledge several of one's resource requests ``(index, input_cid)`` in one transaction."""
        self._tx(
            account,
            "ackRequests",
            [int(i) for i, _ in inputs],
            [cid_to_bytes32(c) for _, c in inputs],
            action=f"acknowledge resource requests {', '.join(f'#{i}' for i, _ in inputs)}",
        )

    def nack_request(self, account: LocalAccount, index: int) -> None:
        self._tx(account, "nackRequest", int(index), action=f"refuse resource request #{index}")

    # -- platform: runner and collector ----------------------------------------------------------------
    def start(self, account: LocalAccount, execution_id: str | uuid.UUID | None = None) -> str:
        """Start the execution (every request acknowledged); returns its id (a UUID, new if None)."""
        raw = execution_id_bytes(execution_id)
        self._tx(account, "start", raw, action="start the task")
        return str(uuid.UUID(bytes=raw))

    def add_result(self, account: LocalAccount, cid: str, owner: str | None = None) -> int:
        """Record a result (the CID of the stored, encrypted output) owned by ``owner``
        (default: the submitter); returns its index."""
        owner = (
            checksum_address(owner, what="result owner") if owner else to_checksum_address(self._call("submitter")[0])
        )
        result = self._tx(account, "addResult", owner, cid_to_bytes32(cid), action="add a result")
        return self._logged(result, "ResultAdded", "index")[0]

    def finish(self, account: LocalAccount) -> None:
        self._tx(account, "finish", action="finish the task")

    def payment_required(self) -> bool:
        """Whether the task is paid: then only its escrow locks it (fund) and finishes it
        (settle, with a usage record), never ``lock``/``finish`` by a party."""
        return bool(self._call("paymentRequired")[0])

    def fail(self, account: LocalAccount, reason_cid: str) -> None:
        """Close a running task as failed; ``reason_cid`` names a document saying why."""
        self._tx(account, "fail", cid_to_bytes32(reason_cid), action="fail the task")
