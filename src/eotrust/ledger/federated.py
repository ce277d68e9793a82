"""FederatedTaskClient and FederatedFactoryClient: the federated task contract, typed.

A federated task's current state is one :meth:`FederatedTaskClient.status` call; its history
(every round's updates and aggregate) is read from its events by :meth:`FederatedTaskClient.rounds`.
Where the factory is: ``settings.federated_factory_address`` if set; else the one recorded
under the home for this chain (``chain/deployments.json``, key ``federated-<chain>-<genesis>``);
else the first :meth:`FederatedFactoryClient.create` deploys it.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from pydantic import BaseModel, Field

from eotrust.errors import InvalidInputError, LedgerError, NotFoundError
from eotrust.ledger.abi import federated_abi, load_artifact
from eotrust.ledger.codec import checksum_address, cid_or_none, cid_to_bytes32, key_to_recipient, recipient_to_key
from eotrust.ledger.factory import Deployments

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain, TxResult

MAX_PARTICIPANTS = 32
PAGE = 500


#: The longest round deadline: the contract keeps it in seconds, in a uint32.
MAX_ROUND_SECONDS = 2**32 - 1


def check_round_seconds(seconds: int) -> None:
    """InvalidInputError unless ``seconds`` is a round deadline the contract can keep (before,
    a larger one was refused as "must be 1 s or more")."""
    if not 1 <= seconds <= MAX_ROUND_SECONDS:
        raise InvalidInputError(
            f"the round deadline must be 1 to {MAX_ROUND_SECONDS} s (some 136 years), not {seconds}"
        )


class FederatedState(enum.StrEnum):
    UNINITIALISED = "Uninitialised"
    RUNNING = "Running"
    FINISHED = "Finished"
    FAILED = "Failed"


FEDERATED_STATES = list(FederatedState)


def mask_indices(mask: int) -> list[int]:
    """Participant indices set in a bitmask, ascending."""
    return [i for i in range(MAX_PARTICIPANTS) if mask >> i & 1]


class FederatedSnapshot(BaseModel):
    """Everything the contract holds now."""

    address: str
    submitter: str
    aggregator: str
    aggregator_recipient: str = Field(description="age recipient updates are sealed for")
    auditor_recipient: str = Field(description="the submitter's age recipient: it may open updates to verify")
    plan_cid: str
    state: FederatedState
    round: int = Field(description="the current round (counting from 0); equals rounds when finished")
    rounds: int
    quorum: int
    round_seconds: int
    deadline: int = Field(description="the current round's deadline, a block timestamp")
    submitted: list[int] = Field(description="indices of participants that submitted in the current round")
    model_cid: str = Field(description="the current global model")
    failure_cid: str | None = None
    participants: list[str]

    def index_of(self, address: str) -> int | None:
        low = address.lower()
        for i, p in enumerate(self.participants):
            if p.lower() == low:
                return i
        return None

    def roles_of(self, address: str) -> list[str]:
        """What the task names ``address`` as: ``participant``, ``aggregator``, both or neither."""
        return (["participant"] if self.index_of(address) is not None else []) + (
            ["aggregator"] if self.aggregator.lower() == address.lower() else []
        )


class UpdateRecord(BaseModel):
    """One participant's submitted update, as the ledger recorded it."""

    round: int
    index: int
    participant: str
    update_cid: str
    samples: int
    block: int
    tx_hash: str


class RoundRecord(BaseModel):
    """One round: the global model it started from, its updates, and (when closed) its aggregate."""

    round: int
    model_cid: str = Field(description="the global model participants trained from")
    updates: list[UpdateRecord] = Field(default_factory=list)
    aggregate_cid: str | None = None
    refused: list[int] = Field(default_factory=list)
    dropped: list[int] = Field(default_factory=list)
    opened_block: int | None = Field(
        default=None, description="where it started: the task's opening, or the last round's close"
    )
    closed_block: int | None = None
    closed_tx: str | None = None


class FederatedFactoryClient:
    """The federated factory on one chain."""

    def __init__(self, chain: Chain, address: str | None = None) -> None:
        self.chain = chain
        self._abi = federated_abi()
        self._address = checksum_address(address, what="federated factory address") if address else None

    @property
    def _key(self) -> str:
        return f"federated-{self.chain.key}"

    @staticmethod
    def _tag() -> str:
        return "0x" + keccak(load_artifact("FederatedTaskFactory").bytecode).hex()[:16]

    @property
    def address(self) -> str | None:
        if self._address is not None:
            return self._address
        configured = self.chain.settings.federated_factory_address
        if configured:
            address = checksum_address(configured, what="federated_factory_address")
            if not self.chain.code(address):
                raise LedgerError(
                    f"no contract at the configured federated factory address {address} on {self.chain.description}",
                    hint="fix EOTRUST_FEDERATED_FACTORY_ADDRESS, or unset it to deploy one",
                )
            self._address = address
            return address
        record = Deployments(self.chain.settings.chain_dir).get(self._key)
        if record and record.get("artifact") == self._tag() and self.chain.code(record["factory"]):
            self._address = to_checksum_address(record["factory"])
        return self._address

    def ensure_deployed(self, account: LocalAccount) -> str:
        """The factory's address, deploying and recording it first if there is none."""
        if self.address is not None:
            return self.address
        deployments = Deployments(self.chain.settings.chain_dir)
        with deployments.locked():
            if self.address is not None:
                return self.address
            deployer = self.chain.dev_account() if self.chain.backend.deploys_from_dev else account
            bytecode = load_artifact("FederatedTaskFactory").bytecode
            result = self.chain.deploy(deployer, bytecode, action="deploy the federated task factory")
            assert result.contract_address is not None
            deployments.put(
                self._key,
                {
                    "factory": result.contract_address,
                    "block": result.block_number,
                    "tx": result.tx_hash,
                    "artifact": self._tag(),
                    "chain": self.chain.description,
                    "deployed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
            self._address = result.contract_address
            return result.contract_address

    def _call(self, name: str, *args: Any) -> tuple[Any, ...]:
        address = self.address
        if address is None:
            raise NotFoundError(
                f"no federated task factory on {self.chain.description} yet", hint="create a federated task first"
            )
        data = self.chain.call(
            address, self._abi.encode_call(name, *args), action=f"read the federated factory ({name})"
        )
        return self._abi.decode_output(name, data)

    def create(
        self,
        account: LocalAccount,
        *,
        aggregator: str,
        aggregator_recipient: str,
        auditor_recipient: str,
        plan_cid: str,
        model_cid: str,
        participants: list[str],
        rounds: int,
        quorum: int,
        round_seconds: int,
    ) -> FederatedTaskClient:
        """Create a federated task submitted by ``account``; round 0 starts now from ``model_cid``."""
        if not 1 <= rounds <= 255:
            raise InvalidInputError(f"rounds must be 1 to 255, not {rounds}")
        if not 1 <= quorum <= 255:
            raise InvalidInputError(f"the quorum must be 1 to 255, not {quorum}")
        check_round_seconds(round_seconds)
        address = self.ensure_deployed(account)
        data = self._abi.encode_call(
            "createFederatedTask",
            checksum_address(aggregator, what="aggregator"),
            recipient_to_key(aggregator_recipient),
            recipient_to_key(auditor_recipient),
            cid_to_bytes32(plan_cid),
            cid_to_bytes32(model_cid),
            [checksum_address(p, what="participant") for p in participants],
            int(rounds),
            int(quorum),
            int(round_seconds),
        )
        result = self.chain.transact(account, to=address, data=data, action="create a federated task")
        for log in result.logs:
            decoded = self._abi.decode_log(log.topics, log.data)
            if decoded is not None and decoded.name == "FederatedTaskCreated" and log.address == address:
                task = FederatedTaskClient(self.chain, to_checksum_address(decoded.args["task"]))
                task.last_transaction = result
                return task
        raise LedgerError("the federated factory created no task (no FederatedTaskCreated event)")

    def all_tasks(self, known: list[str] | None = None) -> list[str]:
        """Every task of the factory, oldest first. ``known``: what this returned before (the
        factory only appends): only the tasks after it are read (a node polling does this)."""
        if self.address is None:
            return []
        count = int(self._call("taskCount")[0])
        found = list(known) if known is not None and len(known) <= count else []
        for start in range(len(found), count, PAGE):
            found += [to_checksum_address(a) for a in self._call("tasks", start, PAGE)[0]]
        return found

    def is_task(self, address: str) -> bool:
        if self.address is None:
            return False
        return bool(self._call("isTask", checksum_address(address, what="task address"))[0])


class FederatedTaskClient:
    """One federated task contract on ``chain`` at ``address``."""

    def __init__(self, chain: Chain, address: str) -> None:
        self.chain = chain
        self.address = checksum_address(address, what="federated task address")
        self._abi = federated_abi()
        self.last_transaction: TxResult | None = None

    def __repr__(self) -> str:
        return f"FederatedTaskClient({self.address})"

    def _tx(self, account: LocalAccount, function: str, *args: Any, action: str) -> TxResult:
        result = self.chain.transact(
            account, to=self.address, data=self._abi.encode_call(function, *args), action=action
        )
        self.last_transaction = result
        return result

    # -- reading ----------------------------------------------------------------------------------
    def status(self) -> FederatedSnapshot:
        data = self.chain.call(
            self.address, self._abi.encode_call("snapshot"), action=f"read federated task {self.address}"
        )
        if not data:
            if not self.chain.code(self.address):
                raise NotFoundError(f"there is no contract at {self.address} on {self.chain.description}")
            raise LedgerError(f"{self.address} is not an eotrust federated task")
        (s,) = self._abi.decode_output("snapshot", data)
        (
            submitter,
            aggregator,
            agg_key,
            auditor_key,
            plan,
            state,
            rnd,
            rounds,
            quorum,
            seconds,
            deadline,
            submitted,
            model,
            failure,
            participants,
        ) = s
        state_name = FEDERATED_STATES[int(state)]
        return FederatedSnapshot(
            address=self.address,
            submitter=to_checksum_address(submitter),
            aggregator=to_checksum_address(aggregator),
            aggregator_recipient=key_to_recipient(agg_key),
            auditor_recipient=key_to_recipient(auditor_key),
            plan_cid=cid_or_none(plan) or "",
            state=state_name,
            round=int(rounds) if state_name == FederatedState.FINISHED else int(rnd),
            rounds=int(rounds),
            quorum=int(quorum),
            round_seconds=int(seconds),
            deadline=int(deadline),
            submitted=mask_indices(int(submitted)),
            model_cid=cid_or_none(model) or "",
            failure_cid=cid_or_none(failure),
            participants=[to_checksum_address(p) for p in participants],
        )

    def rounds(self, *, from_block: int = 0) -> list[RoundRecord]:
        """Every round so far, from the task's events: the model each started from, each
        update, and the aggregate, refused and dropped participants of each closed round."""
        logs = self.chain.logs(address=self.address, from_block=from_block)
        opened: str | None = None
        records: dict[int, RoundRecord] = {}
        model = None
        started: int | None = None  # the block the next round started in

        def record(r: int) -> RoundRecord:
            return records.setdefault(r, RoundRecord(round=r, model_cid=model or "", opened_block=started))

        for log in logs:
            decoded = self._abi.decode_log(log.topics, log.data)
            if decoded is None:
                continue
            a = decoded.args
            if decoded.name == "FederatedTaskOpened":
                opened = model = cid_or_none(a["model"])
                started = log.block_number
            elif decoded.name == "UpdateSubmitted":
                record(int(a["round"])).updates.append(
                    UpdateRecord(
                        round=int(a["round"]),
                        index=int(a["index"]),
                        participant=to_checksum_address(a["participant"]),
                        update_cid=cid_or_none(a["update"]) or "",
                        samples=int(a["samples"]),
                        block=log.block_number,
                        tx_hash=log.tx_hash,
                    )
                )
            elif decoded.name == "RoundClosed":
                rec = record(int(a["round"]))
                rec.aggregate_cid = cid_or_none(a["model"])
                rec.refused = mask_indices(int(a["refused"]))
                rec.dropped = mask_indices(int(a["dropped"]))
                rec.closed_block = log.block_number
                rec.closed_tx = log.tx_hash
                model, started = rec.aggregate_cid, log.block_number
        if opened is None:
            raise LedgerError(f"{self.address} has no FederatedTaskOpened event; is it a federated task?")
        return [records[r] for r in sorted(records)]

    def round_gas(self, record: RoundRecord) -> int:
        """Gas the round's transactions used: every update submitted and the aggregate."""
        hashes = [u.tx_hash for u in record.updates] + ([record.closed_tx] if record.closed_tx else [])
        return sum(self.chain.gas_used(h) for h in hashes)

    def updates_of(self, round_: int) -> list[UpdateRecord]:
        for rec in self.rounds():
            if rec.round == round_:
                return sorted(rec.updates, key=lambda u: u.index)
        return []

    # -- moves --------------------------------------------------------------------------------------
    def submit_update(self, account: LocalAccount, round_: int, update_cid: str, samples: int) -> None:
        """Submit the CID of this participant's sealed update for ``round_``, trained on ``samples`` samples."""
        if not 0 < samples < 2**32:
            raise InvalidInputError(f"an update's sample count must be 1 to 2**32-1, not {samples}")
        self._tx(
            account,
            "submitUpdate",
            int(round_),
            cid_to_bytes32(update_cid),
            int(samples),
            action=f"submit an update for round {round_}",
        )

    def publish_aggregate(
        self, account: LocalAccount, round_: int, model_cid: str, refused: list[int] | None = None
    ) -> None:
        """Close ``round_`` with the new global model; ``refused``: indices of updates not aggregated."""
        mask = 0
        for i in refused or []:
            mask |= 1 << int(i)
        self._tx(
            account,
            "publishAggregate",
            int(round_),
            cid_to_bytes32(model_cid),
            mask,
            action=f"publish the aggregate of round {round_}",
        )

    def fail(self, account: LocalAccount, reason_cid: str) -> None:
        self._tx(account, "fail", cid_to_bytes32(reason_cid), action="fail the federated task")
