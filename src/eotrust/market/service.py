"""The market's operations as one call each: quote a task (and sign its escrow terms), fund it,
record its usage."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from eotrust.catalog.service import Catalog
from eotrust.crypto.signing import Owner, account_of
from eotrust.errors import (
    EotrustError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)
from eotrust.limits import json_loads
from eotrust.market.estimate import declared_resources, estimate, history
from eotrust.market.prices import task_prices
from eotrust.market.quote import (
    DEFAULT_RUN_S,
    DEFAULT_VALID_S,
    OnFailure,
    Quote,
    make_quote,
    save_quote,
)
from eotrust.market.usage import Usage, record_usage
from eotrust.settings import Settings
from eotrust.store.base import Store

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain
    from eotrust.ledger.escrow import SignedQuote
    from eotrust.market.payments import Payments


def local_runs(settings: Settings, store: Store, workflow_cid: str) -> tuple[str, ...]:
    """Run CIDs of this home's index for ``workflow_cid`` (each re-derived from its stored record)."""
    from eotrust.workflow.runs import list_runs

    return tuple(
        r["run_cid"]
        for r in list_runs(settings, store=store)
        if r["problem"] is None and r["workflow_cid"] == workflow_cid and r["status"] == "succeeded"
    )


def contract_submitter(chain: Chain, task: str) -> str | None:
    """The submitter of the task contract at ``task``; None where there is no contract (the
    market quotes from the submitter's signed record, which anyone may sign for any address:
    where a contract exists, only its submitter's record counts)."""
    from eotrust.ledger.task import TaskClient

    try:
        return TaskClient(chain, task).status().submitter
    except NotFoundError:
        return None


def quote_task(
    settings: Settings,
    catalog: Catalog,
    store: Store,
    task: str,
    signer: Owner,
    *,
    valid_s: int = DEFAULT_VALID_S,
    run_s: int = DEFAULT_RUN_S,
    on_failure: OnFailure = "flat-fee",
    chain: Chain,
) -> Quote:
    """Estimate the task, price it, sign the quote as ``signer`` (its platform owner), store it,
    noted for the task on ``chain`` (:mod:`eotrust.market.notes`).

    Where the task is a contract on ``chain``, only its submitter's catalogue record counts, and
    the platform also signs the quote's escrow terms (EIP-712, for the escrow the task names)
    and notes them in the home next to the quote: what the submitter funds
    (:func:`escrow_quote_of`, :func:`fund_task`)."""
    prices = task_prices(catalog, task, submitter=contract_submitter(chain, task), chain=chain.key)
    workflow_cid = prices.application.body.workflow_cid
    declared, note = declared_resources(store, workflow_cid)
    past = history(catalog, store, workflow_cid, local_runs=local_runs(settings, store, workflow_cid), chain=chain)
    inputs_bytes = sum(d.body.size for d in prices.datasets.values())
    est = estimate(declared, past, inputs_bytes=inputs_bytes, note=note)
    # dated by the chain's clock, which the escrow judges its expiry by (ahead of the wall clock
    # on an embedded chain that mines more than a block a second)
    now = datetime.fromtimestamp(chain.next_block_time(), UTC)
    quote = save_quote(
        settings,
        store,
        make_quote(prices, est, signer, valid_s=valid_s, run_s=run_s, on_failure=on_failure, now=now),
        chain=chain,
    )
    sign_escrow_quote(settings, chain, quote, signer)
    return quote


def _escrow_path(settings: Settings, quote: Quote) -> Path:
    return settings.path("market", "escrow", quote.body.task.lower()) / f"{quote.cid}.json"


def sign_escrow_quote(settings: Settings, chain: Chain, quote: Quote, signer: Owner) -> SignedQuote | None:
    """The quote's escrow terms (``Quote.escrow_terms``, same payee order) signed by ``signer``
    (the platform owner) for the escrow the task names; noted in the home. None where the task
    is no contract on ``chain``."""
    from eotrust.market.payments import escrow_of

    escrow = escrow_of(chain, quote.body.task)
    if escrow is None:
        return None
    account = account_of(signer, "escrow terms")
    if account.address.lower() != quote.body.platform.lower():
        raise PermissionDeniedError(
            f"the escrow terms of quote {quote.cid} are signed by its platform owner {quote.body.platform}"
        )
    signed = escrow.quote(**quote.escrow_terms()).sign(account)
    path = _escrow_path(settings, quote)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(signed.to_json(), sort_keys=True))
    tmp.replace(path)  # never half-written
    return signed


def has_escrow_quote(settings: Settings, quote: Quote) -> bool:
    return _escrow_path(settings, quote).is_file()


def escrow_quote_of(settings: Settings, quote: Quote) -> SignedQuote:
    """The signed escrow terms noted for ``quote``, checked: exactly the quote's terms, signed by
    its platform owner (IntegrityError otherwise; NotFoundError where none was signed)."""
    from eotrust.ledger.escrow import SignedQuote

    path = _escrow_path(settings, quote)
    if not has_escrow_quote(settings, quote):
        raise NotFoundError(
            f"quote {quote.cid} has no signed escrow terms in this home",
            hint=f"the platform quotes the task again: eotrust quote {quote.body.task} --as PLATFORM",
        )
    try:
        signed = SignedQuote.from_json(json_loads(path.read_text()))
        signer = signed.signer()
    except (ValueError, EotrustError) as exc:
        raise IntegrityError(f"the escrow terms of quote {quote.cid} are unreadable: {exc}") from None
    terms = quote.escrow_terms()
    on_chain = signed.quote
    same = (
        on_chain.task.lower() == terms["task"].lower()
        and on_chain.submitter.lower() == terms["submitter"].lower()
        and on_chain.platform.lower() == terms["platform"].lower()
        and [p.lower() for p in on_chain.payees] == [p.lower() for p in terms["payees"]]
        and list(on_chain.maxima) == terms["maxima"]
        and list(on_chain.minima) == terms["minima"]
        and on_chain.fail_fee == terms["fail_fee"]
        and on_chain.valid_until == terms["valid_until"]
        and on_chain.deadline == terms["deadline"]
        and on_chain.quote_cid == terms["quote_cid"]
    )
    if not same or signer.lower() != quote.body.platform.lower():
        raise IntegrityError(
            f"the escrow terms of quote {quote.cid} are not the quote's, signed by its platform owner",
            hint="they were altered after signing; the platform quotes the task again",
        )
    return signed


def fund_task(
    settings: Settings,
    catalog: Catalog,
    store: Store,
    chain: Chain,
    task: str,
    submitter: Owner,
    *,
    quote_cid: str | None = None,
) -> tuple[Quote, str]:
    """The submitter funds ``task`` with its quote's total (the latest noted here, or ``quote_cid``):
    checked, unexpired, the escrow locks the money and the task in one transaction. (quote, tx hash)."""
    from eotrust.market.payments import escrow_of
    from eotrust.market.quote import check_quote, quote_for

    quote = quote_for(settings, store, task, catalog, chain=chain, cid=quote_cid)
    if quote.body.task.lower() != task.lower():
        raise InvalidInputError(f"quote {quote.cid} is for task {quote.body.task}, not {task}")
    check_quote(
        quote, catalog, unexpired=True, now=datetime.fromtimestamp(chain.next_block_time(), UTC), chain=chain.key
    )
    signed = escrow_quote_of(settings, quote)
    account = account_of(submitter, "a funding transaction")
    if account.address.lower() != quote.body.submitter.lower():
        raise PermissionDeniedError(
            f"task {task} is funded by its submitter {quote.body.submitter}, not by {account.address}"
        )
    escrow = escrow_of(chain, task)
    if escrow is None:
        raise NotFoundError(f"task {task} is not a contract on this chain")
    if not escrow.required(task):
        raise StateError(
            f"task {task} was not created paid: it is locked without funding",
            hint="create a paid task: eotrust task create --paid / eotrust flow request --paid",
        )
    return quote, str(escrow.fund(task, signed, sender=account).tx_hash)


def usage_task(
    settings: Settings,
    catalog: Catalog,
    store: Store,
    task: str,
    signer: Owner,
    *,
    quote_cid: str | None = None,
    payments: Payments | None = None,
    recorded: Collection[str] | None = None,
    chain: Chain,
) -> Usage:
    """Measure the task's run against its quote and sign the usage record as the platform: the
    quote the escrow was funded with (asked of ``payments``); only a task that was never funded
    is measured against ``quote_cid`` or, by default, the latest quote noted here for the
    task on ``chain`` (where the usage record is noted too). A
    ``quote_cid`` other than the funded one is refused before anything is recorded: the
    escrow settles on the funded quote only, and a newer quote (re-priced, or asked for by
    the submitter) would have moved what each payee is paid. Only the results whose CIDs the
    task's contract holds are measured (``recorded``, else asked of ``payments``)."""
    from eotrust.cid import same_cid
    from eotrust.market.quote import quote_for

    funded = payments.funded_quote(task) if payments is not None else None
    if funded is not None and quote_cid and not same_cid(quote_cid, funded):
        raise InvalidInputError(
            f"task {task} was funded with quote {funded}, not {quote_cid}",
            hint="leave --quote out: the funded one is used",
        )
    quote_cid = funded or quote_cid
    quote = quote_for(settings, store, task, catalog, chain=chain, cid=quote_cid)
    if quote.body.task.lower() != task.lower():
        raise InvalidInputError(f"quote {quote.cid} is for task {quote.body.task}, not {task}")
    if recorded is None and payments is not None:
        recorded = payments.recorded_results(task)
    return record_usage(settings, catalog, store, quote, signer, recorded, chain=chain)
