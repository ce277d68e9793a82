"""A temporal classifier for per-pixel time series: 1-D convolutions over dates.

Input ``(N, C, T)`` — C bands (channels) observed at T dates — output class logits ``(N, K)``.
The dates are pooled globally (average and maximum, or attention), so the same network
classifies a series of any length: a whole archive, or one year of it for a change map.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn


class TemporalCNNConfig(BaseModel):
    """The temporal CNN's hyper-parameters, as written in a model-definition file."""

    model_config = ConfigDict(extra="forbid")

    hidden: int = Field(64, ge=4, le=1024, description="channels of the convolutions")
    layers: int = Field(3, ge=1, le=8, description="convolution blocks")
    kernel_size: int = Field(5, ge=1, le=15, description="odd kernel length, in dates")
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    pooling: Literal["avgmax", "avg", "max", "attention"] = "avgmax"

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("kernel_size must be odd (so every date stays centred)")
        return v


class TemporalCNN(nn.Module):
    """Conv1d → BatchNorm → ReLU blocks over dates, global temporal pooling, a linear head."""

    def __init__(self, in_channels: int, num_classes: int, **cfg: object) -> None:
        super().__init__()
        config = TemporalCNNConfig(**cfg)  # type: ignore[arg-type]
        if in_channels < 1 or num_classes < 1:
            raise ValueError("in_channels and num_classes must be positive")
        self.in_channels, self.num_classes, self.config = in_channels, num_classes, config
        blocks: list[nn.Module] = []
        c = in_channels
        for i in range(config.layers):
            out = config.hidden if i else max(config.hidden // 2, 4)
            blocks += [nn.Conv1d(c, out, config.kernel_size, padding=config.kernel_size // 2),
                       nn.BatchNorm1d(out), nn.ReLU(inplace=True)]
            c = out
        self.features = nn.Sequential(*blocks)
        self.attention = nn.Conv1d(c, 1, 1) if config.pooling == "attention" else None
        width = 2 * c if config.pooling == "avgmax" else c
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
        return self.head(v)
