"""A task's bill: what was quoted, used and paid, to whom, with the transaction hashes.

Built from the task's latest quote and usage record (both signed, read back by CID and checked)
and the escrow's payment events (:mod:`eotrust.market.payments`). Without a connected escrow the
bill says so: nothing is shown as paid that the ledger has not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eotrust.catalog.service import Catalog
from eotrust.market.payments import PaymentEvent, Payments
from eotrust.market.quote import quote_for
from eotrust.market.usage import latest_usage
from eotrust.settings import Settings
from eotrust.store.base import Store

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain


@dataclass(frozen=True)
class BillLine:
    """One payee: at most ``quoted``, owed ``used`` by the usage record, ``paid`` by the ledger
    (owed by its settlement) and ``withdrawn`` (pulled), with the transactions."""

    address: str
    roles: list[str]
    quoted: int
    used: int | None
    paid: int
    withdrawn: int
    transactions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Bill:
    task: str
    process: str
    submitter: str
    quote_cid: str
    total: int
    currency: str
    valid_until: str
    expired: bool
    usage_cid: str | None
    outcome: str | None
    charged: int | None
    refund: int | None
    funded: int
    refunded: int
    # quoted | funded | settled (the platform settled it) | released (failed: the platform paid
    # its failure fee, the rest refunded) | refunded (nacked: all back) | expired (past its
    # deadline: all back, or each payee its minimum where a result had been recorded)
    status: str
    payments_connected: bool
    lines: list[BillLine]
    funding_transactions: list[str]
    refund_transactions: list[str]


def make_bill(
    settings: Settings, catalog: Catalog, store: Store, task: str, payments: Payments | None, *, chain: Chain
) -> Bill:
    """The bill of ``task`` on ``chain``: its funded quote (else the latest noted for it on
    ``chain``), its latest usage record noted for it on ``chain``, and the escrow's payments."""
    funded_cid = payments.funded_quote(task) if payments is not None else None
    # the funded quote is the one the money follows; a later quote (re-priced) is not the bill's
    quote = quote_for(settings, store, task, catalog, chain=chain, cid=funded_cid)
    recorded = payments.recorded_results(task) if payments is not None else None
    found = latest_usage(settings, store, task, catalog, recorded, chain=chain)
    usage = found[0] if found else None
    events: list[PaymentEvent] = payments.events(quote.body.task) if payments is not None else []

    def of(kind: str, address: str | None = None) -> list[PaymentEvent]:
        return [e for e in events if e.kind == kind and (address is None or e.party.lower() == address.lower())]

    used = {o.address.lower(): o.amount for o in usage.body.owed} if usage else {}
    lines = []
    for payee in quote.body.payees:
        owed, pulled = of("owed", payee.address), of("withdrawn", payee.address)
        lines.append(
            BillLine(
                address=payee.address,
                roles=list(payee.roles),
                quoted=payee.max,
                used=used.get(payee.address.lower()),
                paid=sum(e.amount for e in owed),
                withdrawn=sum(e.amount for e in pulled),
                transactions=[e.tx_hash for e in owed + pulled],
            )
        )
    funded, refunded = of("funded"), of("refunded")
    causes = {e.cause for e in events if e.kind in ("owed", "refunded")}
    if "expired" in causes:
        status = "expired"
    elif "released" in causes:
        status = "released" if of("owed") else "refunded"
    elif "settled" in causes or of("owed"):
        status = "settled"
    else:
        status = "refunded" if refunded else "funded" if funded else "quoted"
    return Bill(
        task=quote.body.task,
        process=quote.body.process,
        submitter=quote.body.submitter,
        quote_cid=quote.cid,
        total=quote.body.total,
        currency=quote.body.currency,
        valid_until=quote.body.valid_until,
        expired=quote.expired(),
        usage_cid=usage.cid if usage else None,
        outcome=usage.body.outcome if usage else None,
        charged=usage.body.charged if usage else None,
        refund=usage.body.refund if usage else None,
        funded=sum(e.amount for e in funded),
        refunded=sum(e.amount for e in refunded),
        status=status,
        payments_connected=payments is not None and payments.connected(quote.body.task),
        lines=lines,
        funding_transactions=[e.tx_hash for e in funded],
        refund_transactions=[e.tx_hash for e in refunded],
    )
