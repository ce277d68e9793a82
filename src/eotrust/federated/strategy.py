"""Federated strategies: FedAvg and FedProx (one small base, one class each, as in Flower's
``flwr/server/strategy``). Both aggregate by the sample-weighted average; FedProx adds the
proximal term ``mu/2 · ||w − w_global||²`` to each participant's local loss."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from eotrust.federated.aggregate import WeightedDelta, apply_average
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.weights import Weights


class Strategy(ABC):
    name: str

    @property
    @abstractmethod
    def proximal_mu(self) -> float:
        """Weight of the proximal term in the local loss (0: none)."""

    @abstractmethod
    def aggregate(self, global_weights: Weights, updates: Sequence[WeightedDelta]) -> Weights:
        """The next global model from the current one and the round's accepted updates."""


class FedAvg(Strategy):
    name = "fedavg"

    @property
    def proximal_mu(self) -> float:
        return 0.0

    def aggregate(self, global_weights: Weights, updates: Sequence[WeightedDelta]) -> Weights:
        return apply_average(global_weights, updates)


class FedProx(FedAvg):
    name = "fedprox"

    def __init__(self, mu: float) -> None:
        self.mu = float(mu)

    @property
    def proximal_mu(self) -> float:
        return self.mu


def strategy_of(plan: FederatedPlan) -> Strategy:
    return FedProx(plan.mu) if plan.strategy == "fedprox" else FedAvg()
