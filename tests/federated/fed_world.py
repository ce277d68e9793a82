"""A small federated world in one process: an embedded chain, one local store, a submitter,
an aggregator and three participants, each with its own journal and a few own pixels."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import pytest
from eth_account import Account

from eotrust.crypto.keys import generate_identity
from eotrust.federated.data import CLASS_CODES, CLASS_NAMES, PixelSet, load_patch, regions
from eotrust.federated.journal import RoundJournal
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.roles import RoleContext
from eotrust.ledger import Chain
from eotrust.settings import Settings
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


def restart_dev_chain(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Chain:
    """The embedded chain of ``settings`` started afresh, as after ``rm -rf $EOTRUST_HOME/chain``
    or restarting anvil: the home (journals, acceptances, keys, store) is kept, the chain's
    directory is moved aside. The same dev accounts and the same transactions give the same
    addresses; only the genesis differs (it is stamped when the chain starts: here a few
    seconds later, as a chain started again later is)."""
    import eth_tester.backends.pyevm.main as pyevm

    settings.chain_dir.rename(settings.chain_dir.with_name(settings.chain_dir.name + "-before"))
    later = time.time() + 3
    with monkeypatch.context() as m:
        m.setattr(pyevm, "time", SimpleNamespace(time=lambda: later))
        chain = Chain.from_settings(settings)
        chain.block_number()  # the genesis is made and journalled now
    return chain
