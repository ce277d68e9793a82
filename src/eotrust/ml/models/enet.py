"""ENet: a lightweight encoder-decoder for real-time semantic segmentation.

After Paszke et al., "ENet: A Deep Neural Network Architecture for Real-Time Semantic
Segmentation" (2016): an initial block that halves the resolution at once, bottleneck
modules (regular, strided, dilated and asymmetric 5x1/1x5 convolutions) in a large encoder,
and a small decoder that upsamples back to the input size.

Two changes from the paper keep the graph small, fast and portable in ONNX:

- the decoder's main branch upsamples with a 1x1 projection and nearest-neighbour resize
  instead of max-unpooling with indices (no indices to carry; fuses well on CPU);
- ReLU by default (``activation="prelu"`` gives the paper's PReLU in the encoder).

The input is ``(N, C, H, W)`` float32 with ``H`` and ``W`` multiples of
:data:`SPATIAL_MULTIPLE` (8); batch and spatial size are free. The output is class logits
``(N, num_classes, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from eotrust.ml.models.base import Network

#: Height and width of an input must be multiples of this (three halvings in the encoder).
SPATIAL_MULTIPLE = 8

# Stage 2 and 3 of the paper: (kind, dilation). kind: "regular" | "dilated" | "asymmetric".
_PAPER_STAGE = (
    ("regular", 1),
    ("dilated", 2),
    ("asymmetric", 1),
    ("dilated", 4),
    ("regular", 1),
    ("dilated", 8),
    ("asymmetric", 1),
    ("dilated", 16),
)


#: Internal channel counts are rounded up to this: CPU kernels (oneDNN, onnxruntime's NCHWc)
#: run blocked layouts of 8 or 16 channels, and odd widths fall back to slow paths.
CHANNEL_MULTIPLE = 16


def _inner(channels: int, ratio: int) -> int:
    return max(CHANNEL_MULTIPLE, -(-channels // ratio // CHANNEL_MULTIPLE) * CHANNEL_MULTIPLE)


def _act(kind: str, channels: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(channels)
    if kind == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"unknown activation {kind!r}; use 'relu' or 'prelu'")


def _conv_bn_act(
    cin: int,
    cout: int,
    kernel: int | tuple[int, int],
    *,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    act: str = "relu",
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        _act(act, cout),
    )


class InitialBlock(nn.Module):
    """A strided 3x3 convolution concatenated with a 2x2 max-pool of the input (halves H, W).

    With few input bands the paper's split applies (convolution gives ``out - in`` channels);
    with many bands (multispectral) the convolution keeps at least ``out // 2`` channels, and
    the block's output width is rounded up to a multiple of :data:`CHANNEL_MULTIPLE`.
    """

    def __init__(self, in_channels: int, out_channels: int, *, act: str = "relu") -> None:
        super().__init__()
        total = max(out_channels - in_channels, out_channels // 2) + in_channels
        conv_out = -(-total // CHANNEL_MULTIPLE) * CHANNEL_MULTIPLE - in_channels
        self.conv = nn.Conv2d(in_channels, conv_out, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2, 2)
        self.out_channels = conv_out + in_channels
        self.bn = nn.BatchNorm2d(self.out_channels)
        self.act = _act(act, self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.bn(torch.cat([self.conv(x), self.pool(x)], dim=1)))
        return out


class Bottleneck(nn.Module):
    """A residual bottleneck: 1x1 reduce, a middle convolution, 1x1 expand, dropout; plus the input.

    ``kind`` picks the middle convolution: ``regular`` (3x3), ``dilated`` (3x3 with
    ``dilation``) or ``asymmetric`` (5x1 then 1x5).
    """

    def __init__(
        self,
        channels: int,
        *,
        kind: str = "regular",
        dilation: int = 1,
        ratio: int = 4,
        dropout: float = 0.1,
        act: str = "relu",
    ) -> None:
        super().__init__()
        inner = _inner(channels, ratio)
        if kind == "regular":
            middle: nn.Module = _conv_bn_act(inner, inner, 3, padding=1, act=act)
        elif kind == "dilated":
            middle = _conv_bn_act(inner, inner, 3, padding=dilation, dilation=dilation, act=act)
        elif kind == "asymmetric":
            middle = nn.Sequential(
                nn.Conv2d(inner, inner, (5, 1), padding=(2, 0), bias=False),
                _conv_bn_act(inner, inner, (1, 5), padding=(0, 2), act=act),
            )
        else:
            raise ValueError(f"unknown bottleneck kind {kind!r}")
        self.ext = nn.Sequential(
            _conv_bn_act(channels, inner, 1, act=act),
            middle,
            nn.Conv2d(inner, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.Dropout2d(dropout),
        )
        self.act = _act(act, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(x + self.ext(x))
        return out


class DownsamplingBottleneck(nn.Module):
    """Halves H and W: max-pool (zero-padded to the new width) plus a strided 2x2 branch."""

    def __init__(
        self, in_channels: int, out_channels: int, *, ratio: int = 4, dropout: float = 0.1, act: str = "relu"
    ) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError("a downsampling bottleneck cannot reduce channels")
        inner = _inner(in_channels, ratio)
        self.pad = out_channels - in_channels
        self.pool = nn.MaxPool2d(2, 2)
        self.ext = nn.Sequential(
            _conv_bn_act(in_channels, inner, 2, stride=2, act=act),
            _conv_bn_act(inner, inner, 3, padding=1, act=act),
            nn.Conv2d(inner, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.Dropout2d(dropout),
        )
        self.act = _act(act, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.pool(x)
        if self.pad:
            main = F.pad(main, (0, 0, 0, 0, 0, self.pad))
        out: torch.Tensor = self.act(main + self.ext(x))
        return out


class UpsamplingBottleneck(nn.Module):
    """Doubles H and W: 1x1 projection + nearest resize, plus a transposed-convolution branch."""

    def __init__(self, in_channels: int, out_channels: int, *, ratio: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        inner = _inner(in_channels, ratio)
        self.main = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.ext = nn.Sequential(
            _conv_bn_act(in_channels, inner, 1),
            nn.ConvTranspose2d(inner, inner, 2, stride=2, bias=False),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
            nn.Conv2d(inner, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.Dropout2d(dropout),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = F.interpolate(self.main(x), scale_factor=2.0, mode="nearest")
        out: torch.Tensor = self.act(main + self.ext(x))
        return out


class ENet(Network):
    """ENet-class segmentation network.

    Args:
        in_channels: input bands.
        num_classes: output classes.
        widths: channels of the initial block, stage 1 and stages 2-3 (paper: 16, 64, 128).
        stage1_repeats: regular bottlenecks after stage 1's downsampling (paper: 4).
        encoder_stages: how many times the 8-block dilated/asymmetric sequence runs at 1/8
            resolution (paper: 2, stages 2 and 3).
        decoder_repeats: regular bottlenecks after each upsampling (paper: 2 then 1).
        dropout: (stage-1 rate, later rate) of spatial dropout (paper: 0.01, 0.1).
        activation: ``relu`` (default, fastest on CPU) or ``prelu`` (paper) in the encoder.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        widths: Sequence[int] = (16, 64, 128),
        stage1_repeats: int = 4,
        encoder_stages: int = 2,
        decoder_repeats: Sequence[int] = (2, 1),
        dropout: Sequence[float] = (0.01, 0.1),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError("in_channels and num_classes must be positive")
        w0, w1, w2 = (int(w) for w in widths)
        d1, d2 = (float(d) for d in dropout)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.config: dict[str, Any] = {
            "widths": [w0, w1, w2],
            "stage1_repeats": int(stage1_repeats),
            "encoder_stages": int(encoder_stages),
            "decoder_repeats": [int(r) for r in decoder_repeats],
            "dropout": [d1, d2],
            "activation": activation,
        }
        act = activation
        self.initial = InitialBlock(in_channels, w0, act=act)
        c0 = self.initial.out_channels
        stage1: list[nn.Module] = [DownsamplingBottleneck(c0, w1, dropout=d1, act=act)]
        stage1 += [Bottleneck(w1, dropout=d1, act=act) for _ in range(stage1_repeats)]
        self.stage1 = nn.Sequential(*stage1)
        encoder: list[nn.Module] = [DownsamplingBottleneck(w1, w2, dropout=d2, act=act)]
        for _ in range(encoder_stages):
            encoder += [Bottleneck(w2, kind=k, dilation=d, dropout=d2, act=act) for k, d in _PAPER_STAGE]
        self.encoder = nn.Sequential(*encoder)
        r4, r5 = (int(r) for r in decoder_repeats)
        self.decoder = nn.Sequential(
            UpsamplingBottleneck(w2, w1, dropout=d2),
            *[Bottleneck(w1, dropout=d2) for _ in range(r4)],
            UpsamplingBottleneck(w1, w0, dropout=d2),
            *[Bottleneck(w0, dropout=d2) for _ in range(r5)],
        )
        self.head = nn.ConvTranspose2d(w0, num_classes, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.initial(x)
        x = self.stage1(x)
        x = self.encoder(x)
        x = self.decoder(x)
        out: torch.Tensor = self.head(x)
        return out

    def model_def(self) -> dict[str, Any]:
        """Everything needed to rebuild this network: ``ENet(**model_def())``."""
        return {"in_channels": self.in_channels, "num_classes": self.num_classes, **self.config}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
