"""Typed views of a task: its snapshot (``TaskClient.status()``) and its events
(``TaskClient.history()``, ``TaskFactoryClient.events_since()``). Serialisable both ways (pydantic)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from eotrust.cid import cid_from_digest


def record_id(value: str) -> str:
    """A catalogue id as the contract holds it (``0x`` + 64 hex digits) as the catalogue record
    id it is: record ids are CIDs whose sha2-256 digest is the whole id. A CID is returned as
    it is."""
    if value.startswith("0x"):
        return cid_from_digest(bytes.fromhex(value[2:]))
    return value


class TaskState(str, Enum):
    """The contract's ``State``, in its order."""

    Initialized = "Initialized"
    RequestsLocked = "RequestsLocked"
    Running = "Running"
    Finished = "Finished"
    Nacked = "Nacked"
    Failed = "Failed"
    Expired = "Expired"  # a paid task its escrow ended at the quote's deadline

    @property
    def is_terminal(self) -> bool:
        return self in (TaskState.Finished, TaskState.Nacked, TaskState.Failed, TaskState.Expired)


class RequestStatus(str, Enum):
    """The contract's ``Status`` (its ``None`` is ``NotRequested`` here)."""

    NotRequested = "NotRequested"
    Requested = "Requested"
    Acknowledged = "Acknowledged"
    Refused = "Refused"


class RequestKind(str, Enum):
    application = "application"
    platform = "platform"
    resource = "resource"


TASK_STATES = list(TaskState)
#: The contract's state names by their number (what its enums encode).
STATE_NAMES: tuple[str, ...] = tuple(state.value for state in TaskState)
REQUEST_STATUSES = list(RequestStatus)
REQUEST_KINDS = list(RequestKind)


class ResourceRequest(BaseModel):
    """One resource (dataset) request of a task."""

    model_config = ConfigDict(frozen=True)

    index: int
    id: str  # catalogue id of the dataset, 0x + 64 hex digits
    owner: str
    status: RequestStatus
    input_cid: str | None = None  # the stored, encrypted input (set by the owner's ack)

    @property
    def dataset_record(self) -> str:
        """The catalogue record id of the requested dataset."""
        return record_id(self.id)


class TaskResult(BaseModel):
    """One result recorded by the collector."""

    model_config = ConfigDict(frozen=True)

    index: int
    owner: str
    cid: str


class TaskSnapshot(BaseModel):
    """Everything a task contract holds, read in one call."""

    model_config = ConfigDict(frozen=True)

    address: str
    submitter: str
    state: TaskState
    results_recipient: str  # the results policy: the submitter's age recipient for outputs
    application_id: str
    application_owner: str
    application_status: RequestStatus
    platform_id: str
    platform_owner: str
    platform_status: RequestStatus
    platform_key: str | None = None  # the platform's age recipient: inputs are sealed for it
    platform_policy: str | None = None  # CID of the platform's execution policy (None: default)
    execution_id: str | None = None  # UUID given by the runner at start
    failure: str | None = None  # CID of the failure reason (Failed)
    requests: list[ResourceRequest] = []
    results: list[TaskResult] = []

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def all_acknowledged(self) -> bool:
        return (
            self.application_status is RequestStatus.Acknowledged
            and self.platform_status is RequestStatus.Acknowledged
            and all(r.status is RequestStatus.Acknowledged for r in self.requests)
        )

    @property
    def application_record(self) -> str:
        """The catalogue record id of the task's application."""
        return record_id(self.application_id)

    @property
    def platform_record(self) -> str:
        """The catalogue record id of the task's platform."""
        return record_id(self.platform_id)

    @property
    def result_cids(self) -> list[str]:
        """The CIDs of the results recorded on the contract, in order."""
        return [r.cid for r in self.results]

    @property
    def parties(self) -> list[str]:
        """Every address the task names: submitter, application and platform owners, then each
        data owner (a party may appear more than once)."""
        return [self.submitter, self.application_owner, self.platform_owner, *(r.owner for r in self.requests)]

    def names(self, address: str | None) -> bool:
        """Whether the task names ``address`` as any of its parties (case-insensitive)."""
        return bool(address) and any(a.lower() == str(address).lower() for a in self.parties)

    def owed_by(self, address: str) -> list[tuple[RequestKind, int]]:
        """The requests ``address`` owns and has not answered yet: ``(kind, index)`` with index
        0 for the application and the platform request, the request's index for a dataset."""
        me = address.lower()
        owed: list[tuple[RequestKind, int]] = []
        if self.application_owner.lower() == me and self.application_status is RequestStatus.Requested:
            owed.append((RequestKind.application, 0))
        if self.platform_owner.lower() == me and self.platform_status is RequestStatus.Requested:
            owed.append((RequestKind.platform, 0))
        for request in self.requests:
            if request.owner.lower() == me and request.status is RequestStatus.Requested:
                owed.append((RequestKind.resource, request.index))
        return owed


class _Event(BaseModel):
    """What every task event has: its contract event ``name``, the task, where it sits on the
    chain, and ``party``, who acted (for ``RequestChanged``: the request's owner)."""

    model_config = ConfigDict(frozen=True)

    name: str
    task: str
    block_number: int
    log_index: int
    tx_hash: str
    party: str
    timestamp: int | None = None  # block time (history() fills it)


class TaskCreated(_Event):
    """The factory made the task (``party``: its submitter), naming its application and platform."""

    name: Literal["TaskCreated"] = "TaskCreated"
    index: int  # the task's number at the factory
    application_id: str
    application_owner: str
    platform_id: str
    platform_owner: str

    def describe(self) -> str:
        """One line for people."""
        return (
            f"created by {self.party} for application {self.application_id} ({self.application_owner}) "
            f"on platform {self.platform_id} ({self.platform_owner})"
        )


class StateChanged(_Event):
    """The task moved from state ``old`` to ``new``; ``cid``: the failure reason (Failed)."""

    name: Literal["StateChanged"] = "StateChanged"
    old: TaskState
    new: TaskState
    cid: str | None = None

    def describe(self) -> str:
        """One line for people."""
        extra = f", reason {self.cid}" if self.cid else ""
        return f"{self.old.value} -> {self.new.value} by {self.party}{extra}"


class RequestChanged(_Event):
    """A request was made (``new`` Requested, ``id`` the catalogue id asked for) or answered;
    an acknowledgement may carry the platform's age recipient ``key`` and policy ``cid``, or a
    dataset's stored input ``cid``."""

    name: Literal["RequestChanged"] = "RequestChanged"
    kind: RequestKind
    index: int
    old: RequestStatus
    new: RequestStatus
    id: str | None = None  # catalogue id of the request made (resource requests)
    key: str | None = None  # the platform's age recipient (platform ack)
    cid: str | None = None  # input (resource ack), policy (platform ack)

    def describe(self) -> str:
        """One line for people."""
        what = f"resource request #{self.index}" if self.kind is RequestKind.resource else f"{self.kind.value} request"
        if self.new is RequestStatus.Requested:
            return f"{what} made to {self.party} (id {self.id})"
        extra = ""
        if self.key:
            extra += f", key {self.key}"
        if self.cid:
            extra += f", {'input' if self.kind is RequestKind.resource else 'policy'} {self.cid}"
        return f"{what} {self.new.value.lower()} by {self.party}{extra}"


class Started(_Event):
    """The platform started the task under ``execution_id`` (a UUID)."""

    name: Literal["Started"] = "Started"
    execution_id: str

    def describe(self) -> str:
        """One line for people."""
        return f"started by {self.party}, execution {self.execution_id}"


class ResultAdded(_Event):
    """The platform recorded result ``index``: the stored ciphertext ``cid``, for ``owner``."""

    name: Literal["ResultAdded"] = "ResultAdded"
    owner: str
    index: int
    cid: str

    def describe(self) -> str:
        """One line for people."""
        return f"result #{self.index} {self.cid} for {self.owner}, recorded by {self.party}"


#: One event of a task, as an indexer needs it: a union discriminated by ``name`` (the contract
#: event), each member with only its own fields. Validate JSON with :data:`TASK_EVENTS_ADAPTER`.
TaskEvent = Annotated[TaskCreated | StateChanged | RequestChanged | Started | ResultAdded, Field(discriminator="name")]

#: Reads a list of task events back (say ``eotrust task history --json``).
TASK_EVENTS_ADAPTER: TypeAdapter[list[TaskEvent]] = TypeAdapter(list[TaskEvent])
