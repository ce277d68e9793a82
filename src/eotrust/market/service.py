"""The market's operations as one call each: quote a task, record its usage."""

from __future__ import annotations

from typing import Any

from eotrust.catalog.service import Catalog
from eotrust.market.estimate import declared_resources, estimate, history
from eotrust.market.prices import task_prices
from eotrust.market.quote import (
    DEFAULT_VALID_S,
    OnFailure,
    Quote,
    latest_quote,
    make_quote,
    save_quote,
)
from eotrust.market.usage import Usage, record_usage
from eotrust.settings import Settings
from eotrust.store.base import Store


def local_runs(settings: Settings, store: Store, workflow_cid: str) -> tuple[str, ...]:
    """Run CIDs of this home's index for ``workflow_cid`` (each re-derived from its stored record)."""
    from eotrust.workflow.runs import list_runs

    return tuple(
        r["run_cid"]
        for r in list_runs(settings, store=store)
        if r["problem"] is None and r["workflow_cid"] == workflow_cid and r["status"] == "succeeded"
    )


def quote_task(
    settings: Settings,
    catalog: Catalog,
    store: Store,
    task: str,
    signer: Any,
    *,
    valid_s: int = DEFAULT_VALID_S,
    on_failure: OnFailure = "flat-fee",
) -> Quote:
    """Estimate the task, price it, sign the quote as ``signer`` (its platform owner), store it."""
    prices = task_prices(catalog, task)
    workflow_cid = prices.application.body.workflow_cid  # type: ignore[attr-defined]
    declared, note = declared_resources(store, workflow_cid)
    past = history(catalog, store, workflow_cid, local_runs=local_runs(settings, store, workflow_cid))
    inputs_bytes = sum(d.body.size for d in prices.datasets.values())  # type: ignore[attr-defined]
    est = estimate(declared, past, inputs_bytes=inputs_bytes, note=note)
    return save_quote(settings, store, make_quote(prices, est, signer, valid_s=valid_s, on_failure=on_failure))


def usage_task(
    settings: Settings, catalog: Catalog, store: Store, task: str, signer: Any, *, quote_cid: str | None = None
) -> Usage:
    """Measure the task's run against its quote (``quote_cid``: the one the escrow was funded
    with; default: the latest noted here) and sign the usage record as the platform."""
    from eotrust.errors import InvalidInputError
    from eotrust.market.quote import load_quote

    quote = load_quote(store, quote_cid, catalog) if quote_cid else latest_quote(settings, store, task, catalog)
    if quote.body.task.lower() != task.lower():
        raise InvalidInputError(f"quote {quote.cid} is for task {quote.body.task}, not {task}")
    return record_usage(settings, catalog, store, quote, signer)
