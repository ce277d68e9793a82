"""What both roles share: who acts, on which chain and store, reading plans and models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount

from eotrust.federated.journal import RoundJournal
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.weights import Weights, check_like, decode, encode
from eotrust.ledger.chain import Chain
from eotrust.ledger.federated import FederatedFactoryClient
from eotrust.store.base import Store, read_at_most

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
    clock: Callable[[], float] | None = None  # None: the chain's time (:meth:`now`)

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def chain_key(self) -> str:
        """The chain this party acts on, as its journal and acceptances name it (id and genesis)."""
        return self.chain.key

    def now(self) -> float:
        """The time deadlines are judged by: the chain's, as the contract does
        (:meth:`Chain.next_block_time`)."""
        return self.clock() if self.clock is not None else self.chain.next_block_time()

    def factory(self) -> FederatedFactoryClient:
        return FederatedFactoryClient(self.chain)


#: A plan is a small document (architecture, its parameters, strategy, privacy).
MAX_PLAN_BYTES = 1 << 20


def read_plan(store: Store, cid: str) -> FederatedPlan:
    return FederatedPlan.parse(read_at_most(store, cid, MAX_PLAN_BYTES, "the plan"))


def read_model(store: Store, cid: str, *, like: Weights | None = None) -> Weights:
    """A global model; with ``like`` (the plan's initial weights), a larger object is refused
    unread and one whose tensors are not the plan's (names, shapes, dtypes) is refused: what a
    participant does, as the aggregator that publishes it may be hostile (and the submitter
    that publishes round 0's)."""
    if like is None:
        return decode(store.get_bytes(cid), what=f"global model {cid}")
    weights = decode(read_at_most(store, cid, len(encode(like)), "the global model"), what=f"global model {cid}")
    check_like(weights, like, f"global model {cid}")
    return weights


def short(address: str) -> str:
    return address[:10] + "…"
