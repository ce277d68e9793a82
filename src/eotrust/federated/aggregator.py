"""The aggregator's step on one federated task: once every participant submitted (or the
deadline passed), open each sealed update, refuse garbage (wrong shape, NaN, unreadable),
aggregate the rest deterministically with the plan's strategy, store the new global model
and publish its CID with the refused participants; fail the task if the quorum is missed.

An update whose object is not in the store yet (its record reached the ledger first) is waited
for, poll after poll, until the round's deadline, and refused only past it: before (an audit)
it was refused at once, and ``verify`` then found it sound and blamed the aggregator."""

from __future__ import annotations

import numpy as np

from eotrust.federated.aggregate import WeightedDelta
from eotrust.federated.journal import RoundEntry
from eotrust.federated.roles import DEADLINE_SLACK_S, RoleContext, read_model, read_plan, short
from eotrust.federated.strategy import strategy_of
from eotrust.federated.update import GarbageUpdateError, UpdateNotStoredError, check_update, open_update
from eotrust.federated.weights import encode, floating
from eotrust.ledger.federated import FederatedSnapshot, FederatedState, FederatedTaskClient

ROLE = "aggregator"


def aggregator_step(ctx: RoleContext, address: str, snap: FederatedSnapshot | None = None) -> str:
    """Advance ``address`` as its aggregator; a word on what happened. ``snap``: the task's
    status just read by the caller (a node polling reads it once), else read here."""
    task = FederatedTaskClient(ctx.chain, address)
    snap = snap if snap is not None else task.status()
    if snap.state != FederatedState.RUNNING:
        return snap.state.value.lower()
    if snap.aggregator.lower() != ctx.address.lower():
        return "not the aggregator"
    r = snap.round
    everyone = len(snap.submitted) == len(snap.participants)
    past = ctx.now() > snap.deadline + DEADLINE_SLACK_S
    if not everyone and not past:
        return f"round {r}: waiting ({len(snap.submitted)}/{len(snap.participants)} updates)"
    entry = ctx.journal.load(ctx.chain_key, address, r, ROLE)
    if entry is None:
        plan = read_plan(ctx.store, snap.plan_cid)
        # round 0's model is the submitter's, bounded by the plan; later ones are this aggregator's own
        global_weights = read_model(ctx.store, snap.model_cid, like=plan.initial_weights() if r == 0 else None)
        accepted: list[WeightedDelta] = []
        refused: list[int] = []
        unstored: list[int] = []
        for u in task.updates_of(r):
            try:
                update = open_update(ctx.store, u.update_cid, ctx.identity, like=global_weights)
                check_update(update, global_weights, task=address, round_=r, index=u.index, samples=u.samples)
            except UpdateNotStoredError as exc:
                # (found by opening it, not by Store.has: an IPFS node's has() says only what it
                # holds itself, where opening fetches the object from its peers)
                if not past:
                    unstored.append(u.index)
                    continue
                ctx.log(
                    f"task {short(address)} round {r}: refused participant #{u.index}'s update: not stored by the "
                    f"deadline ({exc.message})"
                )
                refused.append(u.index)
                continue
            except GarbageUpdateError as exc:
                ctx.log(f"task {short(address)} round {r}: refused participant #{u.index}'s update: {exc.message}")
                refused.append(u.index)
                continue
            accepted.append(WeightedDelta(u.index, u.samples, update.delta))
        if unstored:
            waited = ", #".join(map(str, unstored))
            return f"round {r}: waiting for the stored updates of #{waited} (until the deadline)"
        if len(accepted) < snap.quorum:
            if not past:
                return f"round {r}: {len(accepted)} accepted, below the quorum {snap.quorum}; waiting for the deadline"
            reason = ctx.store.put_bytes(
                f"federated task {address} round {r}: {len(accepted)} accepted update(s), quorum {snap.quorum}\n".encode()
            )
            task.fail(ctx.account, reason)
            ctx.log(f"task {short(address)} round {r}: quorum missed; failed")
            return "failed"
        new = strategy_of(plan).aggregate(global_weights, accepted)
        if not all(np.isfinite(new[name]).all() for name in floating(new)):
            # finite updates can still sum past float32 (a plan without max_update_norm): a
            # model nobody can train from is not published; the task ends, saying why
            reason = ctx.store.put_bytes(
                f"federated task {address} round {r}: the aggregate of {len(accepted)} update(s) is not finite\n".encode()
            )
            task.fail(ctx.account, reason)
            ctx.log(f"task {short(address)} round {r}: the aggregate is not finite; failed")
            return "failed"
        cid = ctx.store.put_bytes(encode(new))
        entry = RoundEntry(chain=ctx.chain_key, task=address, round=r, role=ROLE, cid=cid, refused=refused)
        ctx.journal.save(entry)  # before the transaction: a restart publishes this same aggregate
    task.publish_aggregate(ctx.account, r, entry.cid, refused=entry.refused)
    dropped = [i for i in range(len(snap.participants)) if i not in snap.submitted]
    ctx.log(f"task {short(address)} round {r}: published {entry.cid} (refused {entry.refused}, dropped {dropped})")
    return f"round {r}: aggregated"
