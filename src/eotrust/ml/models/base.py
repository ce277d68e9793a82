"""What the trainer, the predictor and the exporter use of every architecture: one base class
that declares it, so no caller probes a network for optional attributes.

A network is built as ``Cls(in_channels, num_classes, **params)``; ``time_encoded`` networks
take the day of year of every date (``days=``) besides the series; a deep ensemble has
``members > 1`` and gives every member's logits (:meth:`Network.member_logits`) so that the
trainer can give each member its own loss.
"""

from __future__ import annotations

import torch
from torch import nn


class Network(nn.Module):
    """Base of eotrust's architectures (see the module's notes)."""

    in_channels: int
    num_classes: int
    #: the network takes the days of year of its dates (``days=``) besides the series
    time_encoded: bool = False
    #: independently initialised copies trained side by side (a deep ensemble); 1: one network
    members: int = 1

    def member_logits(self, x: torch.Tensor, days: torch.Tensor | None = None) -> torch.Tensor:
        """``(members, N, K, ...)``: every member's logits; one network's own, stacked."""
        logits: torch.Tensor = self(x, days) if self.time_encoded else self(x)
        return logits[None]
