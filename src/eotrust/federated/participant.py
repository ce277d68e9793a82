"""A participant's step on one federated task: if the current round still waits for its
update, fetch the global model by CID, train on its own data (which never leaves), seal the
update for the aggregator and the auditor, and submit its CID on the ledger."""

from __future__ import annotations

import numpy as np

from eotrust.cid import cid_of_bytes
from eotrust.errors import InvalidInputError, StateError
from eotrust.federated.data import PixelSet
from eotrust.federated.journal import RoundEntry
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.roles import DEADLINE_SLACK_S, RoleContext, read_model, read_plan, short
from eotrust.federated.update import Update, seal_update
from eotrust.federated.weights import encode
from eotrust.ledger.federated import FederatedSnapshot, FederatedState, FederatedTaskClient

ROLE = "participant"


def check_plan_fits(plan: FederatedPlan, data: PixelSet) -> None:
    """InvalidInputError unless the plan's model takes this owner's pixels: a per-pixel
    architecture, their channels, and a class for each of their labels (checked before
    anything is trained: torch's errors said it with a traceback, and stopped the node)."""
    from eotrust.ml.models import architecture

    if architecture(plan.architecture).input_kind != "pixel":
        raise InvalidInputError(
            f"the plan's architecture {plan.architecture} is not a per-pixel model; a participant trains on pixels"
        )
    channels = int(data.x.shape[1]) if data.x.ndim == 3 else -1
    if channels != plan.in_channels:
        raise InvalidInputError(
            f"the plan's model takes {plan.in_channels} channels; this owner's pixels have {channels}"
        )
    top = int(data.y.max()) if len(data) else -1
    if top >= len(plan.classes):
        raise InvalidInputError(
            f"the plan has {len(plan.classes)} classes; this owner's pixels are labelled up to class index {top}"
        )


def participant_step(ctx: RoleContext, address: str, data: PixelSet, snap: FederatedSnapshot | None = None) -> str:
    """Advance ``address`` as this participant; a word on what happened. ``snap``: the task's
    status just read by the caller (a node polling reads it once), else read here."""
    task = FederatedTaskClient(ctx.chain, address)
    snap = snap if snap is not None else task.status()
    if snap.state != FederatedState.RUNNING:
        return snap.state.value.lower()
    index = snap.index_of(ctx.address)
    if index is None:
        return "not a participant"
    r = snap.round
    if index in snap.submitted:
        return f"round {r}: submitted"
    if ctx.now() > snap.deadline:
        return f"round {r}: missed the deadline (dropped)"
    entry = ctx.journal.load(ctx.chain_key, address, r, ROLE)
    if entry is None:
        from eotrust.federated.local import train_local  # torch: only when this node trains

        plan = read_plan(ctx.store, snap.plan_cid)
        check_plan_fits(plan, data)
        initial = plan.initial_weights()
        if r == 0 and snap.model_cid != cid_of_bytes(encode(initial)):
            # the submitter publishes round 0's model: only the plan's seeded one is what the
            # owners accepted (any weights of the right shapes, or NaN, passed before)
            raise InvalidInputError(
                f"round 0's model {snap.model_cid} is not the plan's initial model {cid_of_bytes(encode(initial))}"
            )
        global_weights = read_model(ctx.store, snap.model_cid, like=initial)
        ctx.log(f"task {short(address)} round {r}: training on {len(data)} own samples")
        delta = train_local(plan, global_weights, data, round_=r, index=index)
        if not all(np.isfinite(delta[name]).all() for name in delta):
            # an unsound global model (finite, but huge): sealing this would have the aggregator
            # record this owner's update as garbage; say what happened and submit nothing
            raise InvalidInputError(
                f"round {r}: training from the global model {snap.model_cid} gave NaN or infinite weights; "
                "no update is submitted"
            )
        update = Update(task=address, round=r, index=index, samples=len(data), delta=delta)
        cid = seal_update(ctx.store, update, [snap.aggregator_recipient, snap.auditor_recipient])
        entry = RoundEntry(chain=ctx.chain_key, task=address, round=r, role=ROLE, cid=cid, samples=len(data))
        ctx.journal.save(entry)  # before the transaction: a restart submits this same update
    try:
        task.submit_update(ctx.account, r, entry.cid, entry.samples)
    except StateError as exc:
        if ctx.now() > snap.deadline - DEADLINE_SLACK_S:
            return f"round {r}: missed the deadline (dropped): {exc.message}"
        raise
    ctx.log(f"task {short(address)} round {r}: submitted update {entry.cid}")
    return f"round {r}: submitted"
