"""The interface the market reads and settles payments through: the escrow on the ledger.

The market itself never moves money. The escrow contract (``eotrust.ledger.escrow``) locks a
quote's total when the submitter funds a task, and on settlement owes each payee its share and
returns the rest; payees pull what they are owed (``withdraw``). What the market needs of it:

- :meth:`Payments.events`: what happened to a task's money, each with its transaction hash;
- :meth:`Payments.settle`: the platform settles a task with its usage record's CID and the
  amount each of the quote's payees is owed (in the quote's payee order).

:func:`payments_of` gives the configured implementation; None where none is connected (then
bills show nothing paid, and usage is recorded but not settled).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from eotrust.settings import Settings

EventKind = Literal["funded", "owed", "refunded", "withdrawn"]


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


class Payments(Protocol):
    """What the market needs of the escrow."""

    def events(self, task: str) -> list[PaymentEvent]: ...

    def settle(self, task: str, usage_cid: str, amounts: list[int], sender: Any) -> str: ...


def payments_of(settings: Settings, chain: Any = None) -> Payments | None:
    """The escrow client for these settings, or None where none is connected.

    PLUG-IN POINT (issue 15): return an adapter over ``eotrust.ledger.escrow.EscrowClient``
    (events from its Funded/Owed/Refunded/Withdrawn logs; settle → ``EscrowClient.settle``)."""
    return None
