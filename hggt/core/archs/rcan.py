"""RCAN (Zhang et al., ECCV 2018, "Image Super-Resolution Using Very Deep Residual Channel
Attention Networks") without its upsampler, for same-size enhancement.

Residual in residual: a head convolution, G residual groups of B residual channel-attention
blocks (RCAB) each closed by a convolution and a group skip, a body convolution and a long skip,
then a tail convolution to RGB. Channel attention squeezes each feature map to its mean and
rescales channels through a bottleneck of C / reduction channels. Inputs are mean-shifted and
scaled by ``img_range`` as in BasicSR's RCAN (the authors' RCANNOUP, ``img_range: 255``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from hggt.core.archs.common import InputRange, conv3x3


class ChannelAttention(nn.Module):
    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class RCAB(nn.Module):
    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels), nn.ReLU(inplace=True), conv3x3(channels, channels), ChannelAttention(channels, reduction)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    def __init__(self, channels: int, blocks: int, reduction: int):
        super().__init__()
        self.body = nn.Sequential(*[RCAB(channels, reduction) for _ in range(blocks)], conv3x3(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class RCAN(nn.Module):
    """Options as :class:`hggt.core.sizes.RCANSize`, whose defaults are the paper's (10 groups x 20
    blocks, 64 channels, reduction 16, img_range 255)."""

    def __init__(self, *, groups: int, blocks: int, channels: int, reduction: int, img_range: float, scale: int = 1):
        super().__init__()
        if scale != 1:
            raise ValueError("RCAN here is the same-size (x1) enhancer, without its upsampler")
        self.input_range = InputRange(img_range)
        self.head = conv3x3(3, channels)
        self.body = nn.Sequential(*[ResidualGroup(channels, blocks, reduction) for _ in range(groups)], conv3x3(channels, channels))
        self.tail = conv3x3(channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(self.input_range.encode(x))
        return self.input_range.decode(self.tail(feat + self.body(feat)))
