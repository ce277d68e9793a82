"""Federated strategies, one small base and one class each, as in Flower's
``flwr/server/strategy``: FedAvg and FedProx aggregate by the sample-weighted average (FedProx
adds the proximal term ``mu/2 · ||w − w_global||²`` to each participant's local loss);
FedMedian and FedTrimmedAvg take each weight from the middle of the updates, whatever sample
counts the participants declare, so that a minority of poisoned updates cannot move it far.
Every strategy can clip each delta to the plan's ``max_update_norm`` first."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from eotrust.federated.aggregate import WeightedDelta, apply_average, apply_median, apply_trimmed_mean
from eotrust.federated.plan import FederatedPlan
from eotrust.federated.weights import Weights


class Strategy(ABC):
    name: str

    def __init__(self, *, max_update_norm: float | None = None) -> None:
        self.max_update_norm = max_update_norm

    @property
    def proximal_mu(self) -> float:
        """Weight of the proximal term in the local loss (0: none)."""
        return 0.0

    @abstractmethod
    def aggregate(self, global_weights: Weights, updates: Sequence[WeightedDelta]) -> Weights:
        """The next global model from the current one and the round's accepted updates."""


class FedAvg(Strategy):
    name = "fedavg"

    def __init__(self, *, max_samples: int | None = None, max_update_norm: float | None = None) -> None:
        super().__init__(max_update_norm=max_update_norm)
        self.max_samples = max_samples

    def aggregate(self, global_weights: Weights, updates: Sequence[WeightedDelta]) -> Weights:
        return apply_average(global_weights, updates, max_samples=self.max_samples, max_norm=self.max_update_norm)


class FedProx(FedAvg):
    name = "fedprox"

    def __init__(self, mu: float, *, max_samples: int | None = None, max_update_norm: float | None = None) -> None:
        super().__init__(max_samples=max_samples, max_update_norm=max_update_norm)
        self.mu = float(mu)

    @property
    def proximal_mu(self) -> float:
        return self.mu


class FedMedian(Strategy):
    name = "fedmedian"

    def aggregate(self, global_weights: Weights, updates: Sequence[WeightedDelta]) -> Weights:
        return apply_median(global_weights, updates, max_norm=self.max_update_norm)


class FedTrimmedAvg(Strategy):
    name = "fedtrimmedavg"

    def __init__(self, beta: float, *, max_update_norm: float | None = None) -> None:
        super().__init__(max_update_norm=max_update_norm)
        self.beta = float(beta)

    def aggregate(self, global_weights: Weights, updates: Sequence[WeightedDelta]) -> Weights:
        return apply_trimmed_mean(global_weights, updates, self.beta, max_norm=self.max_update_norm)


def strategy_of(plan: FederatedPlan) -> Strategy:
    norm = plan.max_update_norm
    if plan.strategy == "fedmedian":
        return FedMedian(max_update_norm=norm)
    if plan.strategy == "fedtrimmedavg":
        return FedTrimmedAvg(plan.trim_beta, max_update_norm=norm)
    if plan.strategy == "fedprox":
        return FedProx(plan.mu, max_samples=plan.max_samples, max_update_norm=norm)
    return FedAvg(max_samples=plan.max_samples, max_update_norm=norm)


def robustness_problem(plan: FederatedPlan, quorum: int) -> str | None:
    """Why the plan's middle (median, trimmed mean) would be the plain mean when a round closes
    with ``quorum`` updates — a round closes with at least that many — or None. A trimmed mean
    cuts ``floor(beta · n)`` updates from each end: none when ``beta · n < 1``; the median of
    two is their mean. Either would let one update move every weight as far as it likes."""
    if plan.strategy == "fedtrimmedavg" and int(plan.trim_beta * quorum) == 0:
        least = 1 / quorum
        fix = f"a --trim-beta of {least:.2f} or more" if least < 0.5 else "a quorum of 3 or more"
        return (
            f"fedtrimmedavg trims floor({plan.trim_beta:g} × {quorum}) = 0 updates from each end with a quorum "
            f"of {quorum}: it would be the plain mean; use {fix}"
        )
    if plan.strategy == "fedmedian" and quorum < 3:
        return f"the median of {quorum} updates is their mean: fedmedian needs a quorum of 3 or more"
    return None


def describe_aggregation(plan: FederatedPlan) -> str:
    """The plan's strategy and bounds in a few words (``verify``, ``federated status``)."""
    words: list[str] = [plan.strategy]
    if plan.strategy == "fedprox":
        words.append(f"mu {plan.mu:g}")
    if plan.strategy == "fedtrimmedavg":
        words.append(f"trim {plan.trim_beta:g}")
    if plan.strategy in ("fedavg", "fedprox"):
        words.append(f"weights capped at {plan.max_samples} samples" if plan.max_samples else "weights as declared")
    if plan.max_update_norm is not None:
        words.append(f"updates clipped to norm {plan.max_update_norm:g}")
    return " ".join(words[:1]) + (f" ({', '.join(words[1:])})" if len(words) > 1 else "")
