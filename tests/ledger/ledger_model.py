"""A plain Python model of the Task state machine: the contract must agree with it after every
call (tests/ledger/test_state_machine.py). It mirrors the order of the contract's checks:
caller first, then state, then the request's own status, then the values."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount

ZERO = "0x" + "00" * 20


@dataclass
class Request:
    owner: str
    status: str = "Requested"

    def owner_account(self, accounts: list[LocalAccount]) -> LocalAccount:
        """The account (of ``accounts``) that owns this request."""
        return next(a for a in accounts if a.address == self.owner)


@dataclass
class TaskModel:
    submitter: str
    app_owner: str
    platform_owner: str
    state: str = "Initialized"
    app_status: str = "NotRequested"
    platform_status: str = "NotRequested"
    requests: list[Request] = field(default_factory=list)
    results: int = 0

    # Each move returns the contract error name it must raise, or None after applying it.
    def add_request(self, caller: str, owner: str) -> str | None:
        if caller != self.submitter:
            return "NotSubmitter"
        if self.state != "Initialized":
            return "WrongState"
        if len(self.requests) >= 200:
            return "TooManyEntries"
        self.requests.append(Request(owner))
        return None

    def lock(self, caller: str) -> str | None:
        if caller != self.submitter:
            return "NotSubmitter"
        if self.state != "Initialized":
            return "WrongState"
        self.state = "RequestsLocked"
        self.app_status = self.platform_status = "Requested"
        return None

    def _answer(self, caller: str, owner: str, not_owner: str, status: str, ack: bool) -> tuple[str | None, str]:
        if caller != owner:
            return not_owner, status
        if self.state != "RequestsLocked":
            return "WrongState", status
        if status != "Requested":
            return "AlreadyAnswered", status
        if not ack:
            self.state = "Nacked"
        return None, "Acknowledged" if ack else "Refused"

    def answer_application(self, caller: str, ack: bool) -> str | None:
        error, self.app_status = self._answer(caller, self.app_owner, "NotApplicationOwner", self.app_status, ack)
        return error

    def answer_platform(self, caller: str, ack: bool) -> str | None:
        error, self.platform_status = self._answer(
            caller, self.platform_owner, "NotPlatformOwner", self.platform_status, ack
        )
        return error

    def answer_request(self, caller: str, index: int, ack: bool) -> str | None:
        if index >= len(self.requests):
            return "NoSuchRequest"
        r = self.requests[index]
        error, r.status = self._answer(caller, r.owner, "NotRequestOwner", r.status, ack)
        return error

    def _platform_while(self, caller: str, state: str) -> str | None:
        if caller != self.platform_owner:
            return "NotPlatformOwner"
        if self.state != state:
            return "WrongState"
        return None

    def start(self, caller: str) -> str | None:
        error = self._platform_while(caller, "RequestsLocked")
        if error:
            return error
        if self.app_status != "Acknowledged" or self.platform_status != "Acknowledged":
            return "NotAcknowledged"
        if any(r.status != "Acknowledged" for r in self.requests):
            return "NotAcknowledged"
        self.state = "Running"
        return None

    def add_result(self, caller: str) -> str | None:
        error = self._platform_while(caller, "Running")
        if error:
            return error
        self.results += 1
        return None

    def finish(self, caller: str) -> str | None:
        error = self._platform_while(caller, "Running")
        if error:
            return error
        if self.results == 0:
            return "NoResults"
        self.state = "Finished"
        return None

    def fail(self, caller: str) -> str | None:
        error = self._platform_while(caller, "Running")
        if error:
            return error
        self.state = "Failed"
        return None
