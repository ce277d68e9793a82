"""The platform's quote for a task: itemised (estimate × rate = cost), signed, with an expiry.

A quote names the task, who pays (its submitter), who is paid and at most how much (the
payees: the platform for compute, the application's owner per run, each dataset's owner per
use), its total, when it expires, by when the platform finishes the task (``deadline``: after
it the escrow refuses to settle, and anyone may expire the task and give the submitter all back,
so a party that never answers or a platform that never finishes cannot hold the money for
ever) and what a failed run pays the platform (``fail_fee``: its flat fee under
``on_failure="flat-fee"``, nothing under ``"refund"``). It is signed by the task's platform
owner and stored by CID; the escrow locks its total against that CID.

Checking a quote (:func:`check_quote`) refuses one not signed by the task's platform owner, one
whose items, payees and total do not add up, and — where it is about to be relied on — one that
has expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from eotrust.catalog.entries import MAX_WEI, Kind, Wei, _wei
from eotrust.catalog.service import Catalog
from eotrust.clock import utc_iso
from eotrust.crypto.signing import Owner, account_of
from eotrust.errors import (
    IntegrityError,
    InvalidInputError,
    PermissionDeniedError,
    StateError,
    first_problem,
)
from eotrust.market.estimate import Estimate
from eotrust.market.notes import notes_root, task_notes
from eotrust.market.prices import TaskPrices
from eotrust.market.signed import (
    SignedDocument,
    load_document,
    sign_document,
    store_document,
)
from eotrust.settings import Settings
from eotrust.store.base import Store

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain

KIND = "eotrust-quote/2"  # 2: a deadline
DEFAULT_VALID_S = 3600
MAX_VALID_S = 30 * 24 * 3600
#: How long after the quote's expiry the platform has to finish the task, by default and at most.
DEFAULT_RUN_S = 24 * 3600
MAX_RUN_S = 30 * 24 * 3600
OnFailure = Literal["refund", "flat-fee"]
#: The platform's lines, charged as measured (at most as quoted); every other line is an owner's
#: fixed price (per run, per use), owed in full when the task is settled.
PLATFORM_ITEMS = ("flat", "cpu", "gpu", "memory", "storage", "duration")


def decimal_amount(value: object) -> object:
    """A quantity or duration: a finite, non-negative decimal string of at most 40 characters
    (a signed document is read by others: NaN, Infinity or 1e999999 were tracebacks)."""
    from decimal import InvalidOperation

    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("a decimal string of at most 40 characters")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite() or number < 0 or abs(number.adjusted()) > 30:
        raise ValueError(f"{value!r} is not a finite, non-negative amount of sensible size")
    return value


def _utc_time(value: object) -> object:
    """A time as eotrust writes it (ISO 8601, UTC)."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("an ISO 8601 time")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return value


class LineItem(BaseModel):
    """One line: ``quantity`` (a decimal) × ``rate`` (wei per unit) = ``cost`` (wei, rounded up)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str  # flat | cpu | gpu | memory | storage | duration | application | dataset:<input>
    payee: str
    quantity: str
    unit: str
    rate: Wei
    cost: Wei

    _whole = field_validator("rate", "cost", mode="before")(_wei)
    _quantity = field_validator("quantity", mode="before")(decimal_amount)


class Payee(BaseModel):
    """One party the task may pay, and at most how much."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    roles: list[str]
    max: Wei

    _whole = field_validator("max", mode="before")(_wei)


class QuoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    process: str
    application_id: str
    platform_id: str
    datasets: dict[str, str]  # workflow input -> dataset record id
    submitter: str
    platform: str  # the platform owner, who signs
    currency: Literal["wei"] = "wei"
    items: list[LineItem]
    payees: list[Payee]
    total: Wei
    estimated_duration_s: str
    basis: str
    notes: list[str] = Field(default_factory=list)
    created: str
    valid_until: str
    deadline: str  # the platform settles by then; after it the task is expired and all refunded
    on_failure: OnFailure = "flat-fee"
    fail_fee: Wei = 0  # what a Failed task pays the platform; the rest goes back to the submitter

    _whole = field_validator("total", "fail_fee", mode="before")(_wei)
    _duration = field_validator("estimated_duration_s", mode="before")(decimal_amount)
    _times = field_validator("created", "valid_until", "deadline", mode="before")(_utc_time)


class Quote(BaseModel):
    """A checked quote and its CID."""

    model_config = ConfigDict(frozen=True)

    cid: str
    body: QuoteBody
    signer: str
    signature: str

    def expired(self, now: datetime | None = None) -> bool:
        return utc_iso(now or datetime.now(UTC)) >= self.body.valid_until

    def max_for(self, address: str) -> int:
        return sum(p.max for p in self.body.payees if p.address.lower() == address.lower())

    def escrow_terms(self) -> dict[str, Any]:
        """What the escrow contract locks, as ``EscrowClient.quote(**terms)`` takes it: the task,
        submitter and platform owner, the payees and their maxima in wei (the total is their
        sum), the least each is paid on settling (its fixed-price lines: an owner's price per run
        or per use, not the platform's to cut), the failure fee, the expiry and deadline (unix
        seconds) and this quote's CID."""
        valid = datetime.fromisoformat(self.body.valid_until)
        deadline = datetime.fromisoformat(self.body.deadline)
        return {
            "task": self.body.task,
            "submitter": self.body.submitter,
            "platform": self.body.platform,
            "payees": [p.address for p in self.body.payees],
            "maxima": [p.max for p in self.body.payees],
            "minima": [
                sum(
                    line.cost
                    for line in self.body.items
                    if line.item not in PLATFORM_ITEMS and line.payee.lower() == p.address.lower()
                )
                for p in self.body.payees
            ],
            "fail_fee": self.body.fail_fee,
            "valid_until": int(valid.timestamp()),
            "deadline": int(deadline.timestamp()),
            "quote_cid": self.cid,
        }


def cost(quantity: Decimal, rate: int) -> int:
    """``quantity × rate`` in whole wei, rounded up (exactly: wide enough for any bounded price)."""
    with localcontext() as ctx:
        ctx.prec = 120
        return int((quantity * rate).to_integral_value(rounding=ROUND_CEILING))


def _bounded(item: str, value: int) -> int:
    if value > MAX_WEI:
        raise InvalidInputError(
            f"the quote's {item} line comes to {value} wei, over the largest price ({MAX_WEI} wei)",
            hint="the prices in the catalogue records are too high for this task",
        )
    return value


def itemise(prices: TaskPrices, est: Estimate) -> list[LineItem]:
    """The quote's lines: compute to the platform, a run to the application's owner, a use to each
    dataset's owner."""
    rates = prices.compute
    platform = prices.platform_owner
    lines = [
        ("flat", Decimal(1), "task", rates.flat),
        ("cpu", est.cpu_hours, "CPU-hour", rates.cpu_hour),
        ("gpu", est.gpu_hours, "GPU-hour", rates.gpu_hour),
        ("memory", est.memory_gb_hours, "GB-hour", rates.memory_gb_hour),
        ("storage", est.storage_gb, "GB", rates.storage_gb),
        ("duration", est.duration_hours, "hour", 0),  # time is charged through what is held
    ]
    items = [
        LineItem(item=i, payee=platform, quantity=str(q), unit=u, rate=r, cost=_bounded(i, cost(q, r)))
        for i, q, u, r in lines
    ]
    for owed in prices.fixed:
        unit = "run" if owed.item == "application" else "use"
        items.append(
            LineItem(item=owed.item, payee=owed.payee, quantity="1", unit=unit, rate=owed.price, cost=owed.price)
        )
    return items


def payees_of(items: list[LineItem]) -> list[Payee]:
    """One payee per address, in the order they first appear, with the sum of its lines."""
    out: dict[str, dict[str, Any]] = {}
    for line in items:
        key = line.payee.lower()
        entry = out.setdefault(key, {"address": line.payee, "roles": [], "max": 0})
        role = "platform" if line.item in ("flat", "cpu", "gpu", "memory", "storage", "duration") else line.item
        if role not in entry["roles"]:
            entry["roles"].append(role)
        entry["max"] += line.cost
    return [Payee(**e) for e in out.values()]


def make_quote(
    prices: TaskPrices,
    est: Estimate,
    signer: Owner,
    *,
    valid_s: int = DEFAULT_VALID_S,
    run_s: int = DEFAULT_RUN_S,
    on_failure: OnFailure = "flat-fee",
    now: datetime | None = None,
) -> SignedDocument:
    """The signed quote of ``prices`` × ``est``, valid for funding ``valid_s`` seconds and to be
    settled at most ``run_s`` seconds after that; ``signer`` must be the task's platform owner."""
    account = account_of(signer, "a quote")
    if account.address.lower() != prices.platform_owner.lower():
        raise PermissionDeniedError(
            f"a quote for task {prices.task} is signed by its platform's owner {prices.platform_owner}, not by {account.address}",
            hint="quote as the party that registered the task's platform",
        )
    if not (60 <= valid_s <= MAX_VALID_S):
        raise InvalidInputError(f"a quote is valid for 60 s to {MAX_VALID_S} s, not {valid_s}")
    if not (60 <= run_s <= MAX_RUN_S):
        raise InvalidInputError(f"a quote gives the platform 60 s to {MAX_RUN_S} s to finish, not {run_s}")
    items = itemise(prices, est)
    payees = payees_of(items)
    total = sum(p.max for p in payees)
    if total > MAX_WEI:
        raise InvalidInputError(
            f"the quote's total {total} wei is over the largest price ({MAX_WEI} wei)",
            hint="the prices in the catalogue records are too high for this task",
        )
    created = now or datetime.now(UTC)
    body = QuoteBody(
        task=prices.task,
        process=prices.application.body.name,
        application_id=prices.application.id,
        platform_id=prices.platform.id,
        datasets={name: rec.id for name, rec in prices.datasets.items()},
        submitter=prices.submitter,
        platform=prices.platform_owner,
        items=items,
        payees=payees,
        total=total,
        estimated_duration_s=str(est.duration_s),
        basis=est.basis,
        notes=list(est.notes),
        created=utc_iso(created),
        valid_until=utc_iso(created + timedelta(seconds=valid_s)),
        deadline=utc_iso(created + timedelta(seconds=valid_s + run_s)),
        on_failure=on_failure,
        fail_fee=_fail_fee(items, on_failure),
    )
    return sign_document(KIND, body.model_dump(mode="json"), account)


def _fail_fee(items: list[LineItem], on_failure: str) -> int:
    """What a failed run pays the platform: its flat fee, or nothing."""
    return next((i.cost for i in items if i.item == "flat"), 0) if on_failure == "flat-fee" else 0


def _parse(document: SignedDocument, cid: str) -> Quote:
    try:
        body = QuoteBody.model_validate(document.body)
    except ValidationError as exc:
        raise IntegrityError(f"quote {cid}: {first_problem(exc)}") from None
    return Quote(cid=cid, body=body, signer=document.signer, signature=document.signature)


def check_quote(
    quote: Quote,
    catalog: Catalog | None = None,
    *,
    now: datetime | None = None,
    unexpired: bool = False,
    chain: str | None = None,
) -> None:
    """IntegrityError unless the quote is signed by its platform owner (the catalogue's owner of
    its platform record, where a catalogue is given) and its lines, payees and total add up;
    StateError when ``unexpired`` and it has expired."""
    body = quote.body
    if quote.signer.lower() != body.platform.lower():
        raise IntegrityError(
            f"quote {quote.cid} names platform owner {body.platform} but is signed by {quote.signer}",
            hint="only the task's platform owner quotes for it",
        )
    if catalog is not None:
        platform = catalog.get(body.platform_id, Kind.PLATFORM)
        if platform.owner.lower() != quote.signer.lower():
            raise IntegrityError(
                f"quote {quote.cid} is signed by {quote.signer}, who does not own platform {body.platform_id}",
                hint="only the task's platform owner quotes for it",
            )
        # only the submitter's signed records, of ``chain`` (Chain.key) where given
        info = catalog.task(body.task, submitter=body.submitter, chain=chain).body
        if (
            info.platform_id != body.platform_id
            or info.application_id != body.application_id
            or info.inputs != body.datasets
        ):
            raise IntegrityError(
                f"quote {quote.cid} does not match the catalogue's record of task {body.task}",
                hint="a quote names the task's submitter, application, platform and datasets",
            )
    for line in body.items:
        if cost(Decimal(line.quantity), line.rate) != line.cost:
            raise IntegrityError(
                f"quote {quote.cid}: line {line.item}: {line.quantity} × {line.rate} is not {line.cost} wei"
            )
    if [p.model_dump() for p in payees_of(body.items)] != [p.model_dump() for p in body.payees]:
        raise IntegrityError(f"quote {quote.cid}: its payees' maxima are not the sums of its lines")
    if body.fail_fee != _fail_fee(body.items, body.on_failure):
        raise IntegrityError(
            f"quote {quote.cid}: its failure fee {body.fail_fee} wei is not what {body.on_failure!r} says"
        )
    if body.deadline < body.valid_until:
        raise IntegrityError(f"quote {quote.cid}: its deadline {body.deadline} is before its expiry {body.valid_until}")
    if sum(p.max for p in body.payees) != body.total:
        raise IntegrityError(f"quote {quote.cid}: its total {body.total} wei is not the sum of its payees' maxima")
    if unexpired and quote.expired(now):
        raise StateError(f"quote {quote.cid} expired at {body.valid_until}", hint="ask the platform for a new quote")


# -- storing and reading ---------------------------------------------------------------------
def save_quote(settings: Settings, store: Store, document: SignedDocument, *, chain: Chain) -> Quote:
    """Store the signed quote by CID and note it under the home's index of quotes per task on
    ``chain`` (:mod:`eotrust.market.notes`)."""
    quote = _parse(document, "(new)")
    check_quote(quote)
    cid = store_document(store, document)
    index = task_notes(settings, chain, "quotes", quote.body.task)
    (index / f"{quote.body.created}_{cid}").touch()
    return Quote(cid=cid, body=quote.body, signer=document.signer, signature=document.signature)


def load_quote(store: Store, cid: str, catalog: Catalog | None = None, *, chain: str | None = None) -> Quote:
    """The checked quote stored at ``cid`` (against its task's record of ``chain``, a
    ``Chain.key``, where given: a fresh dev chain gives its tasks a previous chain's addresses)."""
    quote = _parse(load_document(store, cid, KIND), cid)
    check_quote(quote, catalog, chain=chain)
    return quote


def quote_cids(settings: Settings, task: str | None = None, *, chain: Chain) -> list[str]:
    """CIDs of the quotes noted in this home for tasks on ``chain`` (for one task, or all),
    oldest first; another chain's (a dev chain started afresh: the same addresses) are not."""
    root = notes_root(settings, chain, "quotes")
    dirs = (
        [task_notes(settings, chain, "quotes", task, create=False)]
        if task
        else sorted(p for p in root.iterdir() if p.is_dir())
    )
    names = sorted(p.name for d in dirs if d.is_dir() for p in d.iterdir() if "_" in p.name)
    return [n.split("_", 1)[1] for n in names]


def latest_quote(settings: Settings, store: Store, task: str, catalog: Catalog | None = None, *, chain: Chain) -> Quote:
    """The latest quote noted in this home for ``task`` on ``chain``, checked."""
    from eotrust.errors import NotFoundError

    cids = quote_cids(settings, task, chain=chain)
    if not cids:
        raise NotFoundError(
            f"no quote for task {task} in this home", hint=f"the platform quotes it: eotrust quote {task} --as PLATFORM"
        )
    return load_quote(store, cids[-1], catalog, chain=chain.key)


def quote_for(
    settings: Settings, store: Store, task: str, catalog: Catalog | None, *, chain: Chain, cid: str | None = None
) -> Quote:
    """The quote at ``cid`` when one is given (the funded one, or one the user names), else the
    latest noted in this home for ``task`` on ``chain``; checked against the task's record on
    ``chain`` either way."""
    if cid:
        return load_quote(store, cid, catalog, chain=chain.key)
    return latest_quote(settings, store, task, catalog, chain=chain)
