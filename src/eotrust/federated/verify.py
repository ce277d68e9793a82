"""Verify a federated task: the factory made it, the plan and models are what their CIDs say,
and every round's aggregate is recomputed from the participants' updates — opened with the
auditor's (submitter's) or the aggregator's key — and compared bit for bit with the published
one. A dishonest aggregator (a wrong aggregate, a good update refused, garbage accepted) is
caught; without a key the recomputation cannot run, and the verdict says so and fails."""

from __future__ import annotations

from collections.abc import Callable

from eotrust.cid import cid_of_bytes
from eotrust.errors import EotrustError
from eotrust.federated.aggregate import WeightedDelta
from eotrust.federated.roles import read_model, read_plan
from eotrust.federated.strategy import describe_aggregation, strategy_of
from eotrust.federated.update import (
    GarbageUpdateError,
    SealedForOthersError,
    UpdateNotStoredError,
    check_update,
    open_update,
)
from eotrust.federated.weights import encode
from eotrust.ledger.chain import Chain
from eotrust.ledger.federated import FederatedFactoryClient, FederatedTaskClient, RoundRecord
from eotrust.store.base import Store

#: add(name, ok, detail): ok True holds, False fails, None skipped.
AddCheck = Callable[[str, "bool | None", str], object]


def verify_federated(chain: Chain, store: Store, address: str, add: AddCheck, *, identity: str | None = None) -> None:
    """Run every check of the federated task ``address``, reporting each through ``add``."""
    factory = FederatedFactoryClient(chain)
    made = factory.address is not None and factory.is_task(address)
    add("made by the configured federated factory", made, factory.address or "no federated factory on this chain")
    task = FederatedTaskClient(chain, address)
    snap = task.status()
    add(
        "contract state",
        snap.state.value != "Failed",
        f"{snap.state.value}, round {snap.round}/{snap.rounds}, {len(snap.participants)} participants, quorum {snap.quorum}",
    )
    try:
        plan = read_plan(store, snap.plan_cid)
        add(
            "training plan",
            True,
            f"{snap.plan_cid}: {plan.application}, {describe_aggregation(plan)}, "
            f"{plan.local_epochs} local epoch(s)"
            + (f", DP clip {plan.privacy.clip} noise {plan.privacy.noise_multiplier}" if plan.privacy else ""),
        )
    except EotrustError as exc:
        add("training plan", False, f"{snap.plan_cid}: {exc.message}")
        return
    rounds = task.rounds()
    reference = plan.initial_weights()  # every round's model has these tensors
    initial = cid_of_bytes(encode(reference))
    first = rounds[0].model_cid if rounds else snap.model_cid if snap.round == 0 else None
    if first is not None:  # the owners accepted the plan, whose seed makes round 0's model
        add(
            "round 0: the plan's initial model",
            first == initial,
            initial if first == initial else f"round 0 starts from {first}, not {initial}",
        )
    if not rounds:
        add("rounds", None, "no round has started yet")
        return
    strategy = strategy_of(plan)
    for rec in rounds:
        name = f"round {rec.round}"
        wrong = [u.index for u in rec.updates if snap.participants[u.index].lower() != u.participant.lower()]
        add(
            f"{name}: updates signed by their participants",
            not wrong,
            f"{len(rec.updates)} update(s) from #{[u.index for u in rec.updates]}; dropped {rec.dropped}; refused {rec.refused}"
            + (f"; sender mismatch {wrong}" if wrong else ""),
        )
        if rec.aggregate_cid is None:
            add(f"{name}: aggregate", None, "round still open")
            continue
        try:
            global_weights = read_model(store, rec.model_cid, like=reference)
        except EotrustError as exc:
            add(f"{name}: global model", False, exc.message)
            continue
        if identity is None:
            add(
                f"{name}: aggregate recomputed",
                False,
                "needs the key of the submitter (auditor) or the aggregator to open the sealed updates (verify --as)",
            )
            continue
        accepted: list[WeightedDelta] = []
        misjudged: list[str] = []
        unjudged: list[str] = []
        unstored: list[str] = []
        for u in rec.updates:
            try:
                update = open_update(store, u.update_cid, identity, like=global_weights)
                check_update(update, global_weights, task=address, round_=rec.round, index=u.index, samples=u.samples)
                good = True
            except SealedForOthersError:
                # its participant left this key out: what the aggregator saw is not for this
                # key to judge (INCOMPLETE), and blaming the aggregator would be the participant's frame
                unjudged.append(f"#{u.index}'s update is not sealed for this key: verify with a key it was sealed for")
                continue
            except UpdateNotStoredError:
                # refused: the aggregator did not have it either; aggregated: it did, and this
                # store cannot recompute without it (INCOMPLETE, not the aggregator's fault)
                if u.index in rec.refused:
                    unstored.append(f"#{u.index}'s update is not in this store")
                else:
                    unjudged.append(
                        f"#{u.index}'s update {u.update_cid} is not in this store: verify on a store that holds it"
                    )
                continue
            except GarbageUpdateError as exc:
                good, why = False, exc.message
            if good and u.index in rec.refused:
                misjudged.append(
                    f"#{u.index}'s update is sound but was refused{_refused_when(chain, snap.round_seconds, rec)}"
                )
            elif not good and u.index not in rec.refused:
                misjudged.append(f"#{u.index}'s update is garbage but was aggregated ({why})")
            if good and u.index not in rec.refused:
                accepted.append(WeightedDelta(u.index, u.samples, update.delta))
        add(
            f"{name}: refused updates are exactly the garbage ones",
            not misjudged,
            "; ".join(misjudged) or f"refused {rec.refused}" + (f" ({'; '.join(unstored)})" if unstored else ""),
        )
        if unjudged:
            add(f"{name}: aggregate recomputed", None, "; ".join(unjudged))
            continue
        if not accepted:
            add(f"{name}: aggregate recomputed", False, "no accepted update to recompute from")
            continue
        recomputed = cid_of_bytes(encode(strategy.aggregate(global_weights, accepted)))
        same = recomputed == rec.aggregate_cid
        add(
            f"{name}: aggregate recomputed bit for bit",
            same,
            f"{rec.aggregate_cid}" if same else f"published {rec.aggregate_cid}, recomputed {recomputed}",
        )


def _refused_when(chain: Chain, round_seconds: int, rec: RoundRecord) -> str:
    """What to add to "…'s update is sound but was refused" for a refusal in ``rec``: the
    aggregator waits for an update's object until the deadline, so a refusal before it is the
    aggregator's fault, and one after it may be the participant's (an object stored late: no
    store says when an object arrived)."""
    if rec.opened_block is None or rec.closed_block is None:
        return ""
    deadline = chain.block_timestamp(rec.opened_block) + round_seconds
    if chain.block_timestamp(rec.closed_block) <= deadline:
        return " before the round's deadline (the aggregator waits for a stored update until then)"
    return (
        " after the round's deadline: either its object reached the store only after the aggregator looked "
        "(its participant's doing) or the aggregator refused a sound update"
    )
