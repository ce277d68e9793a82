"""Where a home notes what the market made for a task: per chain.

Quotes, usage records and refusals are signed documents stored by CID; the home notes their
CIDs per task, under ``market/<chain key>/<kind>/<task>`` (:attr:`eotrust.ledger.chain.Chain.key`:
the chain's id and genesis hash, asked on first use). A dev chain started afresh (the embedded
one's directory removed, anvil restarted) has the same id and gives its tasks the previous
chain's addresses: before, notes were kept under ``market/<kind>/<task>`` alone, and the
previous chain's quote was funded, and its usage record billed, for this chain's task.

Notes of that earlier layout are taken over for this chain only where this chain's escrow
names them — the quote a task was funded with, the usage record it was settled with — once
per chain (``market/<chain key>/.adopted`` says it was done); any other is left unread.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from eotrust.errors import IntegrityError
from eotrust.names import check_name
from eotrust.settings import Settings

if TYPE_CHECKING:
    from eotrust.ledger.chain import Chain

Kind = Literal["quotes", "usage", "refusals"]
#: The kinds the escrow can vouch for (an earlier layout's notes of these are taken over).
ADOPTED: tuple[Kind, ...] = ("quotes", "usage")
_MARK = ".adopted"
_TASK = re.compile(r"^0x[0-9a-f]{40}$")
_KEY = re.compile(r"^[0-9]{1,78}-0x[0-9a-f]{64}$")


def _chain_dir(settings: Settings, chain: Chain) -> Path:
    """``market/<chain key>``, created on first use (a key is longer than a name: checked here)."""
    key = chain.key
    if not _KEY.match(key):
        raise IntegrityError(f"{key[:80]!r} is not a chain's key (<chain id>-<genesis hash>)")
    base = settings.path("market") / key
    base.mkdir(exist_ok=True)
    return base


def notes_root(settings: Settings, chain: Chain, kind: Kind) -> Path:
    """``market/<chain key>/<kind>``: this chain's notes of ``kind``, created on first use
    (and the earlier layout's notes this chain's escrow names taken over, once)."""
    base = _chain_dir(settings, chain)
    if not (base / _MARK).is_file():
        _adopt_unkeyed(settings, chain, base)
    root = base / check_name(kind, "kind of market note")
    root.mkdir(exist_ok=True)
    return root


def task_notes(settings: Settings, chain: Chain, kind: Kind, task: str, *, create: bool = True) -> Path:
    """``market/<chain key>/<kind>/<task>``: this chain's notes of ``kind`` for ``task``
    (created unless ``create`` is False: a reader asking of any task makes no folder for it)."""
    path = notes_root(settings, chain, kind) / check_name(task.lower(), "task address")
    if create:
        path.mkdir(exist_ok=True)
    return path


def _adopt_unkeyed(settings: Settings, chain: Chain, base: Path) -> None:
    """Take over the notes of the layout before notes were kept per chain
    (``market/quotes/<task>``, ``market/usage/<task>``) that this chain's escrow names: the
    task's funded quote, the usage records it was settled with. Idempotent (a note is an empty
    file named ``<time>_<cid>``); marked done afterwards."""
    from eotrust.cid import same_cid

    legacy = {kind: settings.home_dir / "market" / kind for kind in ADOPTED}
    tasks = sorted(
        {p.name for d in legacy.values() if d.is_dir() for p in d.iterdir() if p.is_dir() and _TASK.match(p.name)}
    )
    for task in tasks:
        named = _named_by_escrow(chain, task)
        for kind in ADOPTED:
            old = legacy[kind] / task
            if not named[kind] or not old.is_dir():
                continue
            for note in old.iterdir():
                cid = note.name.split("_", 1)[-1]
                if "_" in note.name and any(same_cid(cid, c) for c in named[kind]):
                    target = base / kind / task
                    target.mkdir(parents=True, exist_ok=True)
                    (target / note.name).touch()
    (base / _MARK).touch()


def _named_by_escrow(chain: Chain, task: str) -> dict[Kind, list[str]]:
    """The quote CIDs this chain's escrow funded ``task`` with and the usage CIDs it settled it
    with; none where ``task`` is no task contract on this chain (another contract, or none:
    a dev chain started afresh). A chain that cannot be reached is an error, not an answer."""
    from eotrust.errors import BackendUnavailableError, EotrustError
    from eotrust.market.payments import escrow_of

    named: dict[Kind, list[str]] = {"quotes": [], "usage": [], "refusals": []}
    try:
        escrow = escrow_of(chain, task)
        events = escrow.events(task) if escrow is not None else []
    except BackendUnavailableError:
        raise
    except EotrustError:
        return named
    for event in events:
        if event.name == "Funded":
            named["quotes"].append(str(event.args["quote"].quote_cid))
        elif event.name == "Settled" and event.args["usage_cid"]:
            named["usage"].append(str(event.args["usage_cid"]))
    return named
