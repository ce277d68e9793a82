"""A temporal classifier for per-pixel time series: 1-D convolutions over dates.

Input ``(N, C, T)`` — C bands (channels) observed at T dates — output class logits ``(N, K)``.
The dates are pooled globally (average and maximum, or attention), so the same network
classifies a series of any length: a whole archive, or one year of it for a change map.

``time_encoding: doy`` adds two channels, the sine and cosine of each date's day of year, so
the network knows when in the season a value was seen (pooling alone forgets it). The
trainer records the training dates' days of year in ``days_of_year``; a series on those
dates needs nothing more (an exported graph carries them as a constant), a series on other
dates (one year of the archive for a change map) passes its own ``days`` to ``forward``.

``members > 1`` makes the network a deep ensemble of that many independently initialised
copies: the trainer gives each member its own loss (:meth:`TemporalCNN.member_logits`), and
the forward pass returns the log of the members' mean class probabilities, so a softmax of
the output is the ensemble's prediction and its spread lowers the confidence where the
members disagree (one exported graph, one ONNX file).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from eotrust.ml.models.base import Network


class TemporalCNNConfig(BaseModel):
    """The temporal CNN's hyper-parameters, as written in a model-definition file."""

    model_config = ConfigDict(extra="forbid")

    hidden: int = Field(64, ge=4, le=1024, description="channels of the convolutions")
    layers: int = Field(3, ge=1, le=8, description="convolution blocks")
    kernel_size: int = Field(5, ge=1, le=15, description="odd kernel length, in dates")
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    pooling: Literal["avgmax", "avg", "max", "attention"] = "avgmax"
    time_encoding: Literal["none", "doy"] = Field("none", description="doy: add the day of year (sin, cos) as channels")
    days_of_year: list[float] | None = Field(None, description="the training dates' days of year (set by the trainer)")
    members: int = Field(1, ge=1, le=16, description="ensemble members (independently initialised copies)")

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("kernel_size must be odd (so every date stays centred)")
        return v


class TemporalCNN(Network):
    """One network, or a deep ensemble of ``members`` of them (see the module's notes)."""

    days: torch.Tensor  # a buffer: the days of year of the training dates (time_encoding doy)
    ensemble: nn.ModuleList | None

    def __init__(self, in_channels: int, num_classes: int, **cfg: object) -> None:
        super().__init__()
        config = TemporalCNNConfig(**cfg)
        if in_channels < 1 or num_classes < 1:
            raise ValueError("in_channels and num_classes must be positive")
        self.in_channels, self.num_classes, self.config = in_channels, num_classes, config
        self.members = config.members
        self.time_encoded = config.time_encoding == "doy"
        if self.time_encoded:
            if not config.days_of_year:
                raise ValueError(
                    "time_encoding doy needs days_of_year (the trainer sets them from the dataset's dates)"
                )
            self.register_buffer("days", torch.tensor(config.days_of_year, dtype=torch.float32), persistent=False)
        if config.members > 1:
            one = config.model_dump() | {"members": 1}
            self.ensemble = nn.ModuleList(TemporalCNN(in_channels, num_classes, **one) for _ in range(config.members))
            return
        self.ensemble = None
        self._build(in_channels, num_classes, config)

    def member_logits(self, x: torch.Tensor, days: torch.Tensor | None = None) -> torch.Tensor:
        """``(members, N, K)`` logits of every member (for training each on its own loss)."""
        if self.ensemble is None:
            return self.forward(x, days)[None]
        return torch.stack([m(x, days) for m in self.ensemble])

    def _with_time(self, x: torch.Tensor, days: torch.Tensor | None) -> torch.Tensor:
        d = self.days if days is None else days.to(x.device, torch.float32)
        if d.shape[0] != x.shape[-1]:
            raise ValueError(
                f"the model encodes the day of year of its {d.shape[0]} training dates; a series of "
                f"{x.shape[-1]} dates needs its own days of year"
            )
        a = d * (2 * math.pi / 365.25)
        enc = torch.stack([torch.sin(a), torch.cos(a)]).to(x.dtype)
        return torch.cat([x, enc[None].expand(x.shape[0], -1, -1)], dim=1)

    def _build(self, in_channels: int, num_classes: int, config: TemporalCNNConfig) -> None:
        blocks: list[nn.Module] = []
        c = in_channels + (2 if config.time_encoding == "doy" else 0)
        for i in range(config.layers):
            out = config.hidden if i else max(config.hidden // 2, 4)
            blocks += [
                nn.Conv1d(c, out, config.kernel_size, padding=config.kernel_size // 2),
                nn.BatchNorm1d(out),
                nn.ReLU(inplace=True),
            ]
            c = out
        self.features = nn.Sequential(*blocks)
        self.attention = nn.Conv1d(c, 1, 1) if config.pooling == "attention" else None
        width = 2 * c if config.pooling == "avgmax" else c
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor, days: torch.Tensor | None = None) -> torch.Tensor:
        if self.ensemble is not None:
            probs = torch.stack([torch.softmax(m(x, days), dim=1) for m in self.ensemble]).mean(dim=0)
            return torch.log(probs.clamp_min(1e-12))
        if self.time_encoded:
            x = self._with_time(x, days)
        z = self.features(x)
        pooling = self.config.pooling
        if pooling == "avg":
            v = z.mean(dim=2)
        elif pooling == "max":
            v = z.amax(dim=2)
        elif pooling == "attention":
            assert self.attention is not None
            w = torch.softmax(self.attention(z), dim=2)
            v = (z * w).sum(dim=2)
        else:
            v = torch.cat([z.mean(dim=2), z.amax(dim=2)], dim=1)
        logits: torch.Tensor = self.head(v)
        return logits
