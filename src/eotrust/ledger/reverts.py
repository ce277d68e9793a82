"""A contract's custom error, turned into one clear EotrustError that names it.

``NotPlatformOwner(0xabc…)`` from ``ackPlatform`` becomes "only the platform owner can
acknowledge the platform request; you are 0xabc…" with the contract error as the hint. The
error classes mix the ledger's root with the general kind (permission, state, input, not
found), so a caller can catch either.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import is_address, to_checksum_address

from eotrust.errors import InvalidInputError, LedgerError, NotFoundError, PermissionDeniedError, StateError
from eotrust.ledger.abi import DecodedError
from eotrust.ledger.models import STATE_NAMES, TaskState

TERMINAL_STATES = frozenset(state.value for state in TaskState if state.is_terminal)
KIND_NAMES = ("application", "platform", "resource")


class ContractRevertError(LedgerError):
    """A transaction or call reverted with one of the contracts' custom errors."""

    def __init__(self, message: str, *, error: DecodedError, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or f"the contract reverted with {error}")
        self.error = error

    @property
    def error_name(self) -> str:
        return self.error.name


class NotAllowedError(ContractRevertError, PermissionDeniedError):
    """The caller is not the party the contract allows to make this move."""


class WrongStateError(ContractRevertError, StateError):
    """The task is not in a state where this move is allowed."""


class RejectedInputError(ContractRevertError, InvalidInputError):
    """The contract refused a value (a zero id, key, CID or address; too many entries)."""


class MissingEntryError(ContractRevertError, NotFoundError):
    """No such resource request or task."""


def _request_name(kind: int, index: int) -> str:
    name = KIND_NAMES[kind] if 0 <= kind < len(KIND_NAMES) else "unknown"
    return f"resource request #{index}" if name == "resource" else f"{name} request"


def _state(value: Any) -> str:
    try:
        return STATE_NAMES[int(value)]
    except (IndexError, TypeError, ValueError):
        return str(value)


def revert_error(error: DecodedError, *, action: str, caller: str | None = None) -> ContractRevertError:
    """The EotrustError for ``error``, raised while trying to ``action`` (a verb phrase)."""
    a = error.args
    name = error.name
    you = a.get("caller", caller)
    if isinstance(you, str) and is_address(you):
        you = to_checksum_address(you)
    if name == "NotSubmitter":
        return NotAllowedError(f"only the task's submitter can {action}; you are {you}", error=error)
    if name == "NotApplicationOwner":
        return NotAllowedError(f"only the application owner can {action}; you are {you}", error=error)
    if name == "NotPlatformOwner":
        return NotAllowedError(f"only the platform owner can {action}; you are {you}", error=error)
    if name == "NotFactory":
        return NotAllowedError(
            f"only the task's factory can {action}, at the task's creation; you are {you}", error=error
        )
    if name == "NotRequestOwner":
        return NotAllowedError(
            f"only the owner of resource request #{a.get('index')} can {action}; you are {you}", error=error
        )
    if name == "WrongState":
        current, required = _state(a.get("current")), _state(a.get("required"))
        if current in TERMINAL_STATES:
            return WrongStateError(
                f"cannot {action}: the task is {current}, which is final",
                error=error,
                hint=f"the contract reverted with {error}; nothing changes after {current}",
            )
        return WrongStateError(f"cannot {action}: the task is {current}, and this needs {required}", error=error)
    if name == "AlreadyAnswered":
        return WrongStateError(
            f"cannot {action}: the {_request_name(a.get('kind', -1), a.get('index', 0))} was already answered",
            error=error,
        )
    if name == "NotAcknowledged":
        return WrongStateError(
            f"cannot {action}: the {_request_name(a.get('kind', -1), a.get('index', 0))} is not acknowledged yet",
            error=error,
            hint=f"every request must be acknowledged first (the contract reverted with {error})",
        )
    if name == "NoResults":
        return WrongStateError(
            f"cannot {action}: no result has been recorded", error=error, hint="add a result first (add-result)"
        )
    if name == "NoSuchRequest":
        return MissingEntryError(f"cannot {action}: the task has no resource request #{a.get('index')}", error=error)
    if name == "NoSuchTask":
        return MissingEntryError(f"the factory has no task #{a.get('index')}", error=error)
    if name == "NotAClone":
        return MissingEntryError(
            "that address is the Task implementation, not a task", error=error, hint="use a task's address"
        )
    escrow = _escrow_error(name, a, action, you, error)
    if escrow is not None:
        return escrow
    federated = _federated_error(name, a, action, you, error)
    if federated is not None:
        return federated
    simple = {
        "ZeroAddress": "an owner address is missing (zero)",
        "MissingId": "an id is missing (zero)",
        "MissingKey": "the key is missing (zero)",
        "MissingCid": "the CID is missing (zero)",
        "LengthMismatch": "as many dataset ids as owners are needed",
        "TooManyEntries": "a task holds at most 200 resource requests and 255 results",
        "NoSamples": "an update must be trained on at least one sample",
        "BadParticipants": "participants must be 1 to 32 distinct addresses other than the aggregator, and the quorum 1 to their number",
        "BadRounds": "rounds and the round deadline must be positive",
        "AlreadyInitialised": "the federated task is already set up",
    }
    if name in simple:
        return RejectedInputError(f"cannot {action}: {simple[name]}", error=error)
    return ContractRevertError(f"cannot {action}: the contract reverted with {error}", error=error)


def _escrow_error(
    name: str, a: dict[str, Any], action: str, you: Any, error: DecodedError
) -> ContractRevertError | None:
    """The sentence for an error of the Escrow, or of a paid task's escrow hook (None for any other)."""
    if name == "NotFunded" and not a:
        return WrongStateError(
            f"cannot {action}: the task is paid, so it is locked only by funding it and finished only by settling it",
            error=error,
            hint="fund it with the platform's signed quote (EscrowClient.fund); the platform settles it (EscrowClient.settle)",
        )
    if name == "ResultsRecorded":
        return WrongStateError(
            f"cannot {action}: the paid task has a result recorded, so it is settled (its owners paid their prices), "
            "not failed for the failure fee",
            error=error,
            hint="settle it with the usage record (EscrowClient.settle)",
        )
    if name == "PaidLock":
        return RejectedInputError(
            f"cannot {action}: a paid task is locked by funding it, not at creation",
            error=error,
            hint="create it without --lock, then fund it with the platform's signed quote (EscrowClient.fund)",
        )
    if name == "NotFunded":
        return WrongStateError(
            f"cannot {action}: the escrow holds no money for task {_addr(a.get('task'))}", error=error
        )
    if name == "AlreadyFunded":
        return WrongStateError(f"cannot {action}: task {_addr(a.get('task'))} is already funded", error=error)
    if name == "NotReleasable":
        return WrongStateError(
            f"cannot {action}: the task is {_state(a.get('state'))}; only a Nacked or Failed task is released "
            "(a Running one is settled by its platform, or expired once its deadline has passed)",
            error=error,
        )
    if name == "NotExpirable":
        return WrongStateError(
            f"cannot {action}: the task is {_state(a.get('state'))}; only a task still waiting for answers or "
            "running is expired (a Nacked or Failed one is released)",
            error=error,
        )
    if name == "NotYetExpired":
        return WrongStateError(
            f"cannot {action}: the quote's deadline {a.get('deadline')} has not passed (chain time {a.get('now')})",
            error=error,
            hint="the platform may still finish the task until its deadline",
        )
    if name == "DeadlinePassed":
        return WrongStateError(
            f"cannot {action}: the quote's deadline {a.get('deadline')} has passed (chain time {a.get('now')})",
            error=error,
            hint="after the deadline the task is expired and the submitter refunded (eotrust expire TASK)",
        )
    if name == "QuoteExpired":
        return RejectedInputError(
            f"cannot {action}: the quote expired at {a.get('validUntil')} (chain time {a.get('now')})",
            error=error,
            hint="ask the platform for a new quote",
        )
    if name == "NotQuotedSubmitter":
        return NotAllowedError(f"only the submitter the quote names can {action}; you are {you}", error=error)
    if name == "NotQuotedPlatform":
        return NotAllowedError(f"only the platform that signed the quote can {action}; you are {you}", error=error)
    if name in ("WrongSubmitter", "WrongPlatform"):
        who = "submitter" if name == "WrongSubmitter" else "platform owner"
        return RejectedInputError(
            f"cannot {action}: the quote names {who} {_addr(a.get('quoted'))}, the task's is {_addr(a.get('actual'))}",
            error=error,
        )
    if name == "BadSignature":
        return RejectedInputError(
            f"cannot {action}: the quote's signature is not the platform's (tampered, or signed by another key)",
            error=error,
        )
    if name == "BadQuote":
        return RejectedInputError(
            f"cannot {action}: the quote is malformed (1 to 32 non-zero payees, one maximum each, summing to the "
            "total, and one minimum each, at most its maximum; the failure fee at most the total; the deadline not before the expiry)",
            error=error,
        )
    if name == "WrongAmount":
        return RejectedInputError(
            f"cannot {action}: {a.get('sent')} wei sent, the quote's total is {a.get('total')} wei", error=error
        )
    if name == "WrongQuote":
        return RejectedInputError(
            f"cannot {action}: that is not the quote funded for task {_addr(a.get('task'))}", error=error
        )
    if name == "AboveQuote":
        return RejectedInputError(
            f"cannot {action}: amount #{a.get('index')} ({a.get('amount')} wei) is above the quoted maximum "
            f"({a.get('maximum')} wei)",
            error=error,
        )
    if name == "BelowQuote":
        return RejectedInputError(
            f"cannot {action}: amount #{a.get('index')} ({a.get('amount')} wei) is below the quoted minimum "
            f"({a.get('minimum')} wei: that payee's fixed price)",
            error=error,
        )
    if name == "WrongAmountCount":
        return RejectedInputError(
            f"cannot {action}: {a.get('given')} amounts for {a.get('payees')} payees", error=error
        )
    if name == "NothingOwed":
        return MissingEntryError(f"cannot {action}: nothing is owed to {_addr(a.get('party'))}", error=error)
    if name == "TransferFailed":
        return ContractRevertError(
            f"cannot {action}: {_addr(a.get('party'))} refused the payment (its contract reverted)", error=error
        )
    if name == "Reentered":
        return NotAllowedError(f"cannot {action}: the escrow is already in a call (re-entry refused)", error=error)
    return None


def _addr(value: Any) -> str:
    return to_checksum_address(value) if isinstance(value, str) and is_address(value) else str(value)


FEDERATED_STATES = ("Uninitialised", "Running", "Finished", "Failed")


def _federated_error(
    name: str, a: dict[str, Any], action: str, you: Any, error: DecodedError
) -> ContractRevertError | None:
    """The sentence for an error only the FederatedTask raises (None for any other)."""
    if name == "NotAggregator":
        return NotAllowedError(f"only the federated task's aggregator can {action}; you are {you}", error=error)
    if name == "NotParticipant":
        return NotAllowedError(f"only a participant of the federated task can {action}; you are {you}", error=error)
    if name == "NotRunning":
        state = a.get("state")
        shown = FEDERATED_STATES[state] if isinstance(state, int) and 0 <= state < len(FEDERATED_STATES) else state
        return WrongStateError(f"cannot {action}: the federated task is {shown}, not Running", error=error)
    if name == "WrongRound":
        return WrongStateError(
            f"cannot {action}: the task is in round {a.get('current')}, not {a.get('given')}", error=error
        )
    if name == "DeadlinePassed":
        return WrongStateError(
            f"cannot {action}: the round's deadline ({a.get('deadline')}) has passed",
            error=error,
            hint="the participant is recorded as dropped for this round; join the next one",
        )
    if name == "AlreadySubmitted":
        return WrongStateError(
            f"cannot {action}: participant #{a.get('index')} already submitted this round", error=error
        )
    if name == "RoundStillOpen":
        return WrongStateError(
            f"cannot {action}: the round is open until {a.get('deadline')} and not every participant has submitted",
            error=error,
            hint="wait for the remaining updates or the deadline",
        )
    if name == "QuorumNotReached":
        return WrongStateError(
            f"cannot {action}: only {a.get('accepted')} accepted update(s), the quorum is {a.get('needed')}",
            error=error,
            hint="fail the task, or wait for more participants",
        )
    if name == "RefusedNotSubmitted":
        return RejectedInputError(f"cannot {action}: an update marked refused was never submitted", error=error)
    return None
