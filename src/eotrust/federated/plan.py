"""The training plan of a federated task: what is trained and how. Stored as canonical JSON;
its CID is on the ledger, so every party trains and verifies against the same plan."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from eotrust.cid import canonical_json
from eotrust.errors import InvalidInputError, first_problem
from eotrust.federated.weights import Weights, from_module

if TYPE_CHECKING:
    from eotrust.ml.models.base import Network

PLAN_FORMAT: Literal["eotrust-federated-plan/1"] = "eotrust-federated-plan/1"
#: The largest network a plan may ask its participants and aggregator to build and train
#: (80 MB of float32 weights; the federated models are per-pixel networks of thousands).
MAX_PARAMETERS = 20_000_000
Strategy = Literal["fedavg", "fedprox", "fedmedian", "fedtrimmedavg"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


class PrivacyConfig(BaseModel):
    """Differential privacy of each participant's update: clip its L2 norm to ``clip``, then
    add Gaussian noise of standard deviation ``noise_multiplier × clip`` (before sealing)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    clip: float = Field(gt=0, le=1e6, description="L2 bound of one update")
    noise_multiplier: float = Field(
        ge=0.01, le=1000, description="noise standard deviation / clip (the accountant needs 0.01 to 1000)"
    )
    delta: float = Field(1e-5, gt=0, lt=1, description="the δ of the (ε, δ) guarantee")


DEFAULT_PARAMS: dict[str, int | float | str] = {
    "hidden": 16,
    "layers": 2,
    "kernel_size": 5,
    "dropout": 0.0,
    "pooling": "avgmax",
}


class FederatedPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    format: Literal["eotrust-federated-plan/1"] = PLAN_FORMAT
    application: str = Field("landcover-temporal-cnn", description="the federated training application's name")
    architecture: str = "temporal_cnn"
    params: dict[str, int | float | str] = Field(default_factory=lambda: dict(DEFAULT_PARAMS))
    in_channels: int = Field(1, ge=1)
    classes: list[str] = Field(min_length=2)
    class_codes: list[int] = Field(min_length=2)
    timesteps: int = Field(ge=1)
    strategy: Strategy = "fedavg"
    mu: float = Field(0.01, ge=0, description="FedProx proximal weight")
    trim_beta: float = Field(
        0.2, gt=0, lt=0.5, description="FedTrimmedAvg: the fraction of updates cut from each end, weight by weight"
    )
    max_samples: int | None = Field(
        None, ge=1, description="FedAvg, FedProx: the most samples one update weighs, whatever its participant declares"
    )
    max_update_norm: float | None = Field(
        None, gt=0, description="every update's delta clipped by the aggregator to this L2 norm before aggregation"
    )
    local_epochs: int = Field(2, ge=1, le=100)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(0.005, gt=0, le=10)
    seed: int = Field(0, ge=0, lt=2**63, description="torch's seeds are 64-bit")
    privacy: PrivacyConfig | None = None

    @model_validator(mode="after")
    def _weights_only_where_counted(self) -> FederatedPlan:
        if self.max_samples is not None and self.strategy not in ("fedavg", "fedprox"):
            raise ValueError(f"max_samples caps a weight; {self.strategy} counts no samples (leave it out)")
        return self

    def canonical(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    @classmethod
    def parse(cls, data: bytes) -> FederatedPlan:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise InvalidInputError(f"the federated plan is not valid: {first_problem(exc)}") from None

    def build_model(self) -> Network:
        """The plan's (untrained) network; refused, before anything is allocated, when it has
        more than :data:`MAX_PARAMETERS` parameters."""
        from eotrust.ml.models import build_model

        count = self.parameter_count()
        if count > MAX_PARAMETERS:
            raise InvalidInputError(
                f"the plan's {self.architecture} has {count:,} parameters; a federated plan's model may have at most "
                f"{MAX_PARAMETERS:,}",
                hint="a smaller hidden size, fewer layers or a shorter kernel",
            )
        return build_model(self.architecture, self.in_channels, len(self.classes), dict(self.params))

    def parameter_count(self) -> int:
        """The parameters of the plan's network, counted on torch's meta device (nothing is allocated)."""
        import torch

        from eotrust.ml.models import build_model

        with torch.device("meta"):
            model = build_model(self.architecture, self.in_channels, len(self.classes), dict(self.params))
        return sum(int(p.numel()) for p in model.parameters())

    def initial_weights(self) -> Weights:
        """Round 0's global model: the network initialised from the plan's seed."""
        import torch

        torch.manual_seed(self.seed)
        return from_module(self.build_model())


def plan_of(**fields: object) -> FederatedPlan:
    """A plan from ``fields`` (a command's options); a value out of bounds is one line."""
    try:
        return FederatedPlan.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInputError(f"the federated plan is not valid: {first_problem(exc)}") from None
