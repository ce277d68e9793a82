"""Every role of a federated task in one process, one round at a time: what the demo and the
benchmark run (on real deployments each role is its own node on its own machine)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from eotrust.errors import StateError
from eotrust.federated.aggregator import aggregator_step
from eotrust.federated.data import PixelSet
from eotrust.federated.participant import participant_step
from eotrust.federated.roles import RoleContext
from eotrust.ledger.federated import FederatedState, FederatedTaskClient


def drive(
    task: FederatedTaskClient,
    aggregator: RoleContext,
    participants: Sequence[RoleContext],
    data: Sequence[PixelSet],
    *,
    on_round: Callable[[int], None] | None = None,
) -> None:
    """Run ``task`` to its end: each round, every participant steps, then the aggregator."""
    while True:
        snap = task.status()
        if snap.state != FederatedState.RUNNING:
            return
        r = snap.round
        for ctx, pixels in zip(participants, data):
            participant_step(ctx, task.address, pixels)
        outcome = aggregator_step(aggregator, task.address)
        if task.status().round == r and task.status().state == FederatedState.RUNNING:
            raise StateError(f"round {r} did not close: {outcome}")
        if on_round is not None:
            on_round(r)
