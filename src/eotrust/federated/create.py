"""Open a federated task: store the plan and the initial global model, create the contract."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from eotrust.errors import InvalidInputError
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.strategy import robustness_problem
from eotrust.federated.weights import encode
from eotrust.ledger.chain import Chain
from eotrust.ledger.federated import FederatedFactoryClient, FederatedTaskClient, check_round_seconds
from eotrust.store.base import Store


def create_federated_task(
    chain: Chain,
    store: Store,
    submitter: LocalAccount,
    *,
    auditor_recipient: str,
    plan: FederatedPlan,
    aggregator: str,
    aggregator_recipient: str,
    participants: list[str],
    rounds: int,
    quorum: int | None = None,
    round_seconds: int = 600,
) -> FederatedTaskClient:
    """The new task; round 0 starts from the plan's seeded initial model. ``quorum`` defaults
    to every participant."""
    closes_with = len(participants) if quorum is None else quorum
    check_round_seconds(round_seconds)  # before anything is stored
    problem = robustness_problem(plan, closes_with) if 1 <= closes_with <= len(participants) else None
    if problem is not None:  # (a quorum out of range is the contract's to refuse)
        raise InvalidInputError(problem)
    plan_cid = store.put_bytes(plan.canonical())
    model_cid = store.put_bytes(encode(plan.initial_weights()))
    return FederatedFactoryClient(chain).create(
        submitter,
        aggregator=aggregator,
        aggregator_recipient=aggregator_recipient,
        auditor_recipient=auditor_recipient,
        plan_cid=plan_cid,
        model_cid=model_cid,
        participants=participants,
        rounds=rounds,
        quorum=len(participants) if quorum is None else quorum,
        round_seconds=round_seconds,
    )
