"""Model-definition files: which architecture, its hyper-parameters and how to train it —
a parameter of the generic training service, as on the Fraunhofer platform.

A definition is YAML or JSON::

    format: eotrust-model-def/1
    name: landcover-temporal
    architecture: temporal_cnn        # or enet
    params: {hidden: 64, layers: 3, kernel_size: 5, pooling: avgmax}
    training: {epochs: 40, batch_size: 256, learning_rate: 0.003, patience: 8,
               class_weighting: sqrt_inverse, seed: 0}

Every mistake is reported at once, each with where it is (``training.epochs: …``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from eotrust.errors import InvalidInputError, NotFoundError
from eotrust.limits import json_loads
from eotrust.ml.models import ARCHITECTURES, architecture

FORMAT: Final = "eotrust-model-def/1"


class TrainingConfig(BaseModel):
    """How to train: optimisation, imbalance, early stopping, determinism."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(40, ge=1, le=10_000)
    batch_size: int = Field(256, ge=1, le=65_536)
    learning_rate: float = Field(3e-3, gt=0, le=10)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(10, ge=0, description="epochs without a better validation mIoU before stopping (0 = never)")
    class_weighting: Literal["none", "inverse", "sqrt_inverse"] = "sqrt_inverse"
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    max_train_samples: int | None = Field(500_000, ge=1, description="pixels sampled for training (pixel models)")
    temporal_crop: float | None = Field(
        None, gt=0, le=1, description="random runs of at least this fraction of the dates (augmentation)"
    )
    offset_jitter: float = Field(
        0.0, ge=0, le=10, description="pixel models: std of a random offset added to each sample's whole series"
    )
    scale_jitter: float = Field(
        0.0, ge=0, le=1, description="pixel models: std of a random factor (around 1) on each sample's series"
    )
    noise: float = Field(0.0, ge=0, le=10, description="pixel models: std of noise added to every value")
    date_dropout: float = Field(
        0.0, ge=0, lt=1, description="pixel models: share of dates blanked (set to the mean, as a never-seen value)"
    )
    seed: int = Field(0, ge=0, le=2**64 - 1, description="torch takes a seed of 0 to 2**64 - 1")


class ModelDef(BaseModel):
    """A validated model definition."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["eotrust-model-def/1"] = FORMAT
    name: str = Field(min_length=1)
    architecture: str
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    training: TrainingConfig = Field(default_factory=TrainingConfig)

    @model_validator(mode="after")
    def _known_architecture(self) -> ModelDef:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; use one of {', '.join(ARCHITECTURES)}")
        config = architecture(self.architecture).config_model()
        if config is not None:
            try:
                self.params = config(**self.params).model_dump()
            except ValidationError as exc:
                raise ValueError("params: " + _problems(exc)) from None
        return self

    @property
    def input_kind(self) -> str:
        return architecture(self.architecture).input_kind

    def with_training(self, **changes: Any) -> ModelDef:
        """A copy with some training settings changed (validated)."""
        data = self.model_dump()
        data["training"].update({k: v for k, v in changes.items() if v is not None})
        try:
            return ModelDef.model_validate(data)
        except ValidationError as exc:
            raise InvalidInputError(f"invalid training setting: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def parse_model_def(data: Any, *, source: str = "model definition") -> ModelDef:
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{source} must be a mapping (architecture, params, training), not {type(data).__name__}"
        )
    try:
        return ModelDef.model_validate(data)
    except ValidationError as exc:
        problems = [_problems(exc)]
        if all(err.get("loc") for err in exc.errors()):
            # a field failed, so the whole-definition check (architecture, params) never ran:
            # run it too, so every mistake is reported at once, not the first one only
            problems += _architecture_problems(data)
        raise InvalidInputError(
            f"{source} is invalid: {'; '.join(p for p in problems if p)}",
            hint="see the model-definition format in eotrust.ml.modeldef",
        ) from None


def _architecture_problems(data: dict[str, Any]) -> list[str]:
    name = data.get("architecture")
    if not isinstance(name, str):
        return []  # already reported as a field error
    if name not in ARCHITECTURES:
        return [f"unknown architecture {name!r}; use one of {', '.join(ARCHITECTURES)}"]
    config = architecture(name).config_model()
    params = data.get("params") or {}
    if config is None or not isinstance(params, dict):
        return []
    try:
        config(**params)
    except ValidationError as exc:
        return ["params: " + _problems(exc)]
    return []


def load_model_def(path: Path | str) -> ModelDef:
    """Read and validate a YAML/JSON model definition file (or a built-in by name:
    ``temporal_cnn``, ``temporal_cnn_quick``, ``enet``)."""
    p = Path(path)
    if not p.exists() and builtin_path(str(path)) is not None:
        p = builtin_path(str(path))  # type: ignore[assignment]
    if not p.is_file():
        raise NotFoundError(
            f"model definition {path} does not exist",
            hint=f"give a YAML/JSON file or a built-in: {', '.join(builtin_names())}",
        )
    from eotrust.limits import check_json, check_yaml

    text = p.read_text()
    # measured before it is parsed: size, depth, aliases (issue 12)
    check_json(text, what=f"model definition {p}") if p.suffix == ".json" else check_yaml(
        text, what=f"model definition {p}"
    )
    try:
        data = json_loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (
            f" at line {mark.line + 1}, column {mark.column + 1}"
            if mark
            else (f" at line {exc.lineno}" if hasattr(exc, "lineno") else "")
        )
        raise InvalidInputError(
            f"model definition {p} is not valid {'JSON' if p.suffix == '.json' else 'YAML'}{where}: "
            f"{getattr(exc, 'problem', None) or getattr(exc, 'msg', None) or exc}"
        ) from None
    return parse_model_def(data, source=f"model definition {p}")


def builtin_names() -> list[str]:
    return sorted(
        f.name.removesuffix(".yaml")
        for f in resources.files("eotrust.ml.modeldefs").iterdir()
        if f.name.endswith(".yaml")
    )


def builtin_path(name: str) -> Path | None:
    f = resources.files("eotrust.ml.modeldefs") / f"{name}.yaml"
    return Path(str(f)) if f.is_file() else None
