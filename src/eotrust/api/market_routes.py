"""OGC quotation and billing, shaped like Weaver's: ``POST/GET /processes/{id}/quotations``,
``GET /quotations/{id}``, ``GET /bills``, ``GET /bills/{id}``.

A quotation is asked for a task (its contract address) of the process (the application): the
server estimates it and the task's platform owner signs it — so only a server holding that
owner's key quotes — and it is stored by CID (its id). A bill's id is its task's address. Every
route needs an API key, and a caller sees only the quotes and bills of tasks it submitted or is
paid by. The work is done by ``eotrust.market``; this is a thin shell."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from eotrust.api.auth import Caller, require_party
from eotrust.api.ogc import ERROR_RESPONSES, OgcException
from eotrust.api.process_paths import exact_process_id
from eotrust.errors import NotFoundError, PermissionDeniedError, StateError

if TYPE_CHECKING:
    from eotrust.api.state import ServerState
    from eotrust.market.quote import Quote
    from eotrust.party import Party

router = APIRouter(tags=["Market"])
_ERR: dict[int | str, dict[str, Any]] = {
    **{k: ERROR_RESPONSES[k] for k in (400, 401, 403, 404)},
    422: {"model": OgcException, "description": "a stored quote or usage record fails its checks (signature, sums)"},
}
_POST_ERR: dict[int | str, dict[str, Any]] = {
    **_ERR,
    409: {"model": OgcException, "description": "this server does not hold the platform owner's key"},
}


class QuotationRequest(BaseModel):
    """Quote this task (its contract address)."""

    model_config = ConfigDict(extra="forbid")
    task: str = Field(..., pattern=r"^0x[0-9a-fA-F]{40}$", description="the task's contract address")
    validFor: int = Field(3600, ge=60, le=30 * 24 * 3600, description="seconds the quote holds")
    runFor: int = Field(
        24 * 3600,
        ge=60,
        le=30 * 24 * 3600,
        description="seconds after the quote's expiry by which the platform settles; then the task may be expired",
    )
    onFailure: str = Field("flat-fee", pattern=r"^(flat-fee|refund)$")


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.eotrust
    return state


def _quotation(quote: Quote) -> dict[str, Any]:
    """A quote in Weaver's shape, with eotrust's signed body beside it."""
    from decimal import Decimal

    body = quote.body
    return {
        "id": quote.cid,
        "processID": body.process,
        "status": "completed",
        "created": body.created,
        "expire": body.valid_until,
        "deadline": body.deadline,
        "expired": quote.expired(),
        "price": str(body.total),
        "currency": body.currency,
        "estimatedSeconds": float(Decimal(body.estimated_duration_s)),
        "detail": body.basis,
        "items": [
            {
                "item": i.item,
                "payee": i.payee,
                "estimate": i.quantity,
                "unit": i.unit,
                "rate": str(i.rate),
                "cost": str(i.cost),
            }
            for i in body.items
        ],
        "payees": [{"address": p.address, "roles": p.roles, "max": str(p.max)} for p in body.payees],
        "task": body.task,
        "userID": body.submitter,
        "signer": quote.signer,
        "signature": quote.signature,
        "escrow": {
            **quote.escrow_terms(),
            "maxima": [str(a) for a in quote.escrow_terms()["maxima"]],
            "minima": [str(a) for a in quote.escrow_terms()["minima"]],
            "fail_fee": str(body.fail_fee),
        },
    }


def _sees(caller: Caller, quote: Quote) -> bool:
    me = (caller.address or "").lower()
    return bool(me) and (me == quote.body.submitter.lower() or any(p.address.lower() == me for p in quote.body.payees))


def _visible(request: Request, caller: Caller, cid: str) -> Quote:
    from eotrust.market.quote import load_quote

    state = _state(request)
    try:
        quote = load_quote(state.store, cid, state.catalog, chain=state.chain.key)
    except NotFoundError:
        # one answer whether the store holds no object or one that is not a quote: the store's
        # own message named its folder, and "not a quote document" told which objects it holds
        raise NotFoundError(f"no quotation {cid}", hint="GET /processes/{processId}/quotations lists yours") from None
    if not _sees(caller, quote):
        raise PermissionDeniedError(
            f"quote {cid} is for task {quote.body.task}, which {caller.party} neither submitted nor is paid by"
        )
    return quote


def _platform_party(state: ServerState, address: str) -> Party:
    """The platform owner's party, if this server holds its key."""
    from eotrust.errors import EotrustError
    from eotrust.party import list_cards

    try:
        cards = list_cards(state.settings)
    except EotrustError:
        cards = []
    for card in cards:
        if card.address.lower() == address.lower():
            return state.load_party(card.name)
    raise StateError(
        f"this server does not hold the key of the platform owner {address}, who signs the quote",
        hint="the platform quotes with `eotrust quote TASK --as PLATFORM`, or on its own server",
    )


@router.post("/processes/{processId}/quotations", status_code=201, responses=_POST_ERR)
def post_quotation(
    request: Request,
    response: Response,
    body: QuotationRequest,
    processId: str = Path(..., min_length=1, max_length=200),
    caller: Caller = Depends(require_party),
) -> dict[str, Any]:
    """Quote a task of this process: itemised, signed by the task's platform owner, with an expiry."""
    from eotrust.market.prices import task_prices
    from eotrust.market.quote import DEFAULT_RUN_S, DEFAULT_VALID_S
    from eotrust.market.service import contract_submitter, quote_task

    state = _state(request)
    processId = exact_process_id(request, processId)  # a name with a `/` (eotrust.api.process_paths)
    prices = task_prices(
        state.catalog, body.task, submitter=contract_submitter(state.chain, body.task), chain=state.chain.key
    )
    if prices.application.body.name != processId:
        raise NotFoundError(f"task {body.task} is not a task of process {processId!r}")
    me = (caller.address or "").lower()
    if me not in (prices.submitter.lower(), prices.platform_owner.lower()):
        raise PermissionDeniedError(f"only the submitter or the platform owner of task {body.task} asks for its quote")
    if me != prices.platform_owner.lower() and (
        body.onFailure != "flat-fee" or body.validFor > DEFAULT_VALID_S or body.runFor != DEFAULT_RUN_S
    ):
        # the server signs as the platform: the terms that bind the platform are the platform's to give
        raise PermissionDeniedError(
            f"only the platform owner of task {body.task} sets a quote's failure terms (onFailure), its deadline "
            f"(runFor) or a validity beyond {DEFAULT_VALID_S} s",
            hint="ask without them: the platform's default terms apply",
        )
    with state.lock:
        quote = quote_task(
            state.settings,
            state.catalog,
            state.store,
            body.task,
            _platform_party(state, prices.platform_owner),
            valid_s=body.validFor,
            run_s=body.runFor,
            on_failure=body.onFailure,  # type: ignore[arg-type]
            chain=state.chain,
        )
    response.headers["Location"] = f"/quotations/{quote.cid}"
    return _quotation(quote)


@router.get("/processes/{processId}/quotations", responses=_ERR)
def list_quotations(
    request: Request, processId: str = Path(..., min_length=1, max_length=200), caller: Caller = Depends(require_party)
) -> dict[str, Any]:
    """The quotes of this process's tasks that the caller submitted or is paid by."""
    process = exact_process_id(request, processId)  # a name with a `/` (eotrust.api.process_paths)
    return {"quotations": [q for q in _all_quotes(request, caller) if q["processID"] == process]}


def _all_quotes(request: Request, caller: Caller) -> list[dict[str, Any]]:
    from eotrust.errors import EotrustError
    from eotrust.market.quote import load_quote, quote_cids

    state = _state(request)
    out = []
    for cid in quote_cids(state.settings, chain=state.chain):
        try:
            quote = load_quote(state.store, cid)
        except EotrustError:
            continue  # a noted quote that is gone or altered is nobody's quote
        if _sees(caller, quote):
            out.append(_quotation(quote))
    return out


@router.get("/quotations/{quotationId}", responses=_ERR)
def get_quotation(
    request: Request,
    quotationId: str = Path(..., min_length=1, max_length=100),
    caller: Caller = Depends(require_party),
) -> dict[str, Any]:
    """One quote by its CID, checked (signature, platform owner, totals)."""
    return _quotation(_visible(request, caller, quotationId))


def _bill(request: Request, task: str) -> dict[str, Any]:
    import dataclasses

    from eotrust.market.bill import make_bill
    from eotrust.market.payments import payments_of

    state = _state(request)
    made = make_bill(state.settings, state.catalog, state.store, task, payments_of(state.chain), chain=state.chain)
    data = dataclasses.asdict(made)
    for key in ("total", "charged", "refund", "funded", "refunded"):
        data[key] = None if data[key] is None else str(data[key])
    for line in data["lines"]:
        for key in ("quoted", "used", "paid", "withdrawn"):
            line[key] = None if line[key] is None else str(line[key])
    return {"id": made.task, **data}


@router.get("/bills", responses=_ERR)
def list_bills(request: Request, caller: Caller = Depends(require_party)) -> dict[str, Any]:
    """The bills of the tasks the caller submitted or is paid by."""
    tasks = sorted({q["task"] for q in _all_quotes(request, caller)})
    return {"bills": [_bill(request, task) for task in tasks]}


@router.get("/bills/{billId}", responses=_ERR)
def get_bill(
    request: Request, billId: str = Path(..., min_length=1, max_length=100), caller: Caller = Depends(require_party)
) -> dict[str, Any]:
    """A task's bill (its id is the task's address): quoted, used, paid, to whom, with the transactions."""
    import re

    from eotrust.errors import InvalidInputError
    from eotrust.market.quote import latest_quote

    bill_id = billId
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", bill_id):
        raise InvalidInputError(
            f"a bill's id is its task's contract address (0x and 40 hex digits), not {bill_id[:50]!r}"
        )
    state = _state(request)
    quote = latest_quote(state.settings, state.store, bill_id, state.catalog, chain=state.chain)
    if not _sees(caller, quote):
        raise PermissionDeniedError(f"task {bill_id}: {caller.party} neither submitted it nor is paid by it")
    return _bill(request, bill_id)
