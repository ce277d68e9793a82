"""A small federated world in one process: an embedded chain, one local store, a submitter,
an aggregator and three participants, each with its own journal and a few own pixels."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from eth_account import Account

from eotrust.crypto.keys import generate_identity
from eotrust.federated.data import CLASS_CODES, CLASS_NAMES, PixelSet, load_patch, regions
from eotrust.federated.journal import RoundJournal
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.roles import RoleContext
from eotrust.ledger import Chain
from eotrust.store.base import Store

PIXELS_PER_OWNER = 120


@cache
def owner_sets() -> tuple[list[PixelSet], PixelSet]:
    patch = load_patch()
    bands, held = regions(patch.height)
    sets = []
    for b in bands:
        s = patch.pixels(b)
        sets.append(PixelSet(s.x[:PIXELS_PER_OWNER], s.y[:PIXELS_PER_OWNER]))
    return sets, patch.pixels(held)


def tiny_plan(**changes: object) -> FederatedPlan:
    plan = FederatedPlan(
        classes=CLASS_NAMES,
        class_codes=CLASS_CODES,
        timesteps=68,
        local_epochs=1,
        batch_size=64,
        params={"hidden": 8, "layers": 1, "kernel_size": 3, "dropout": 0.0, "pooling": "avg"},
    )
    return plan.model_copy(update=changes)


@dataclass
class World:
    chain: Chain
    store: Store
    submitter: RoleContext
    aggregator: RoleContext
    participants: list[RoleContext]
    data: list[PixelSet]


def role(name: str, key: int, chain: Chain, store: Store, root: Path) -> RoleContext:
    identity, _ = generate_identity()
    account = Account.from_key(bytes([key]) * 32)
    return RoleContext(
        name=name,
        account=account,
        identity=identity,
        chain=chain,
        store=store,
        journal=RoundJournal(root / name / "journal", signer=account),
    )
