"""What both roles share: who acts, on which chain and store, reading plans and models."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount

from eotrust.federated.journal import RoundJournal
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.weights import Weights, decode
from eotrust.ledger.chain import Chain
from eotrust.ledger.federated import FederatedFactoryClient
from eotrust.store.base import Store

#: Seconds past a deadline before the chain's next block is surely past it too.
DEADLINE_SLACK_S = 2.0


@dataclass
class RoleContext:
    """The acting party (account and age identity), the chain, the shared store, a journal."""

    name: str
    account: LocalAccount
    identity: str
    chain: Chain
    store: Store
    journal: RoundJournal
    log: Callable[[str], None] = field(default=lambda line: None)
    clock: Callable[[], float] = time.time

    @property
    def address(self) -> str:
        return self.account.address

    def factory(self) -> FederatedFactoryClient:
        return FederatedFactoryClient(self.chain)


def read_plan(store: Store, cid: str) -> FederatedPlan:
    return FederatedPlan.parse(store.get_bytes(cid))


def read_model(store: Store, cid: str) -> Weights:
    return decode(store.get_bytes(cid), what=f"global model {cid}")


def short(address: str) -> str:
    return address[:10] + "…"
