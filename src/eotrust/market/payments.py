"""The interface the market reads and settles payments through: the escrow on the ledger.

The market itself never moves money. The escrow contract (``eotrust.ledger.escrow``) locks a
quote's total when the submitter funds a task, and on settlement owes each payee its share and
returns the rest; payees pull what they are owed (``withdraw``). What the market needs of it:

- :meth:`Payments.events`: what happened to a task's money, each with its transaction hash;
- :meth:`Payments.settle`: the platform settles a task with its usage record's CID and the
  amount each of the quote's payees is owed (in the quote's payee order).

:func:`payments_of` gives the escrow of the settings' chain (:class:`EscrowPayments`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from eotrust.crypto.signing import Owner, account_of

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain
    from eotrust.ledger.escrow import EscrowClient

EventKind = Literal["funded", "owed", "refunded", "withdrawn"]
# the escrow's move a credit came from: the platform settled a finished task, the task was
# released (nacked or failed), or anyone expired it past its deadline
Cause = Literal["settled", "released", "expired"]


@dataclass(frozen=True)
class PaymentEvent:
    """One movement of a task's money: ``funded`` (the submitter locked ``amount``), ``owed``
    (settlement owes ``party`` its share), ``refunded`` (returned to the submitter), ``withdrawn``
    (``party`` pulled what it was owed)."""

    kind: EventKind
    party: str
    amount: int
    tx_hash: str
    block: int | None = None
    cause: Cause | None = None  # for ``owed`` and ``refunded``: the escrow's move


class Payments(Protocol):
    """What the market needs of the escrow."""

    def events(self, task: str) -> list[PaymentEvent]: ...

    def settle(self, task: str, usage_cid: str, amounts: list[int], sender: Owner) -> str: ...

    def funded(self, task: str) -> bool: ...

    def connected(self, task: str) -> bool: ...

    def funded_quote(self, task: str) -> str | None:
        """The CID of the quote ``task`` was funded with (held or since settled), or None."""
        ...

    def recorded_results(self, task: str) -> frozenset[str] | None:
        """The CIDs of the results the task's contract holds; None where it is no contract."""
        ...


class EscrowPayments:
    """:class:`Payments` over the escrow each task names (``EscrowClient.for_task``).

    A task's events: ``funded`` (the submitter, the quote's total), ``owed`` (each payee its
    settled amount, or the platform the failure fee on release), ``refunded`` (the submitter
    the rest; when the task expired, everything, or all but each payee's minimum if it had a
    result) and ``withdrawn``: a withdrawal pays everything a party is owed, so the first
    withdrawal of a party after this task credited it paid that credit in full (its amount and
    transaction hash)."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def escrow(self, task: str) -> EscrowClient | None:
        return escrow_of(self.chain, task)

    def events(self, task: str) -> list[PaymentEvent]:
        escrow = self.escrow(task)
        if escrow is None:
            return []
        out: list[PaymentEvent] = []
        credits: list[tuple[tuple[int, int], PaymentEvent]] = []
        quote = None

        def credit(kind: EventKind, party: str, amount: int, e: Any) -> None:
            cause: Cause = "settled" if e.name == "Settled" else "released" if e.name == "Released" else "expired"
            event = PaymentEvent(kind, party, amount, e.tx_hash, e.block_number, cause)
            out.append(event)
            credits.append(((e.block_number, e.log_index), event))

        for e in escrow.events(task):
            if e.name == "Funded":
                quote = e.args["quote"]
                out.append(PaymentEvent("funded", e.args["submitter"], e.args["total"], e.tx_hash, e.block_number))
            elif e.name == "Settled" and quote is not None and e.args["amounts"] is not None:
                for payee, amount in zip(quote.payees, e.args["amounts"], strict=True):
                    if amount:
                        credit("owed", payee, amount, e)
                if e.args["refund"]:
                    credit("refunded", quote.submitter, e.args["refund"], e)
            elif e.name == "Released" and quote is not None:
                if e.args["to_platform"]:
                    credit("owed", quote.platform, e.args["to_platform"], e)
                if e.args["to_submitter"]:
                    credit("refunded", quote.submitter, e.args["to_submitter"], e)
            elif e.name == "Expired" and quote is not None:
                if e.args["refund"] != quote.total:  # it had a result: each payee its minimum
                    for payee, least in zip(quote.payees, quote.minima, strict=True):
                        if least:
                            credit("owed", payee, least, e)
                if e.args["refund"]:
                    credit("refunded", quote.submitter, e.args["refund"], e)
        pulls: dict[str, list[Any]] = {}
        for at, event in credits:
            if event.party not in pulls:
                pulls[event.party] = escrow.withdrawals(event.party, from_block=at[0])
            pull = next((w for w in pulls[event.party] if (w.block_number, w.log_index) > at), None)
            if pull is not None:
                out.append(
                    PaymentEvent("withdrawn", event.party, event.amount, pull.tx_hash, pull.block_number, event.cause)
                )
        return out

    def connected(self, task: str) -> bool:
        """Whether ``task`` is a contract on this chain with an escrow (its money can move)."""
        return self.escrow(task) is not None

    def funded_quote(self, task: str) -> str | None:
        escrow = self.escrow(task)
        quote = escrow.quote_of(task) if escrow is not None else None
        return None if quote is None else str(quote.quote_cid)

    def recorded_results(self, task: str) -> frozenset[str] | None:
        from eotrust.ledger import TaskClient
        from eotrust.ledger.codec import checksum_address

        address = checksum_address(task, what="task address")
        if not self.chain.code(address):
            return None
        return frozenset(TaskClient(self.chain, address).status().result_cids)

    def funded(self, task: str) -> bool:
        """Whether the escrow holds ``task``'s money now (funded, not yet settled or released)."""
        escrow = self.escrow(task)
        return escrow is not None and bool(escrow.funded(task))

    def settle(self, task: str, usage_cid: str, amounts: list[int], sender: Owner) -> str:
        escrow = self.escrow(task)
        if escrow is None:
            from eotrust.errors import NotFoundError

            raise NotFoundError(f"task {task} is not a contract on this chain: nothing to settle")
        account = account_of(sender, "a settlement")
        return str(escrow.settle(task, usage_cid, list(amounts), sender=account).tx_hash)


def escrow_of(chain: Chain, task: str) -> EscrowClient | None:
    """The ``EscrowClient`` of the escrow ``task`` names; None where ``task`` is no contract on
    ``chain`` (a task known only from the catalogue)."""
    from eotrust.ledger.codec import checksum_address
    from eotrust.ledger.escrow import EscrowClient

    address = checksum_address(task, what="task address")
    if not chain.code(address):
        return None
    return EscrowClient.for_task(chain, address)


def payments_of(chain: Chain) -> Payments:
    """The escrow payments over ``chain`` (a process's ``Backends.chain``)."""
    return EscrowPayments(chain)
