"""RRDBNet (Wang et al., ECCVW 2018, "ESRGAN"): x4 super-resolution generator.

A first convolution, B residual-in-residual dense blocks (RRDB: three residual dense blocks of
five densely connected convolutions with growth G, each block and the RRDB scaled by 0.2 before
its skip), a body convolution closing a long skip, an x4 upsampler and two output convolutions;
LeakyReLU(0.2) throughout. The dense blocks' convolutions start at a tenth of a Kaiming-normal
draw with zero biases (the authors' initialisation). Two upsamplers:

- ``pixelshuffle``: the HGGT authors' ``RRDBPSNet`` (BasicSR ``Upsample``: twice a convolution to
  4x the channels and a pixel shuffle x2, one LeakyReLU after both), what their Real-ISR configs
  train and the paper default;
- ``nearest``: ESRGAN's, twice a nearest-neighbour x2 step followed by a convolution and LeakyReLU.

Module names follow BasicSR's (``upsample.0`` / ``upsample.2`` for the pixel shuffle, ``conv_up1`` /
``conv_up2`` for nearest), so weight files of either reference load into ours unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from hggt.core.archs.common import add_x4_upsampler, nearest_x4


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2, inplace=True)


class ResidualDenseBlock(nn.Module):
    def __init__(self, channels: int, growth: int):
        super().__init__()
        for i in range(5):
            cout = channels if i == 4 else growth
            setattr(self, f"conv{i + 1}", nn.Conv2d(channels + i * growth, cout, 3, 1, 1))
        # As the authors' RRDBNet / RRDBPSNet (BasicSR's default_init_weights(..., 0.1)): Kaiming-normal
        # weights (fan-in, gain sqrt(2)) scaled by 0.1 and zero biases, so that every dense block starts
        # close to the identity through its skips; the layers outside the blocks keep PyTorch's default.
        # Done right after the five are built, as theirs is: the random draws come in the same order,
        # so one torch seed gives both implementations the same weights.
        with torch.no_grad():
            for i in range(5):
                conv = getattr(self, f"conv{i + 1}")
                nn.init.kaiming_normal_(conv.weight)
                conv.weight.mul_(0.1)
                conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i in range(1, 5):
            feats.append(_lrelu(getattr(self, f"conv{i}")(torch.cat(feats, 1))))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    def __init__(self, channels: int, growth: int):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (ResidualDenseBlock(channels, growth) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """Options as :class:`hggt.core.sizes.RRDBSize`, whose defaults are the paper's (23 blocks, 64
    channels, growth 32, pixel-shuffle upsampler); build it with hggt.core.archs.build_generator."""

    def __init__(self, *, blocks: int, channels: int, growth: int, upsampler: str, scale: int = 4):
        super().__init__()
        if scale != 4:
            raise ValueError("RRDBNet here is the x4 generator")
        if upsampler not in ("pixelshuffle", "nearest"):
            raise ValueError(f"unknown RRDBNet upsampler {upsampler!r}; choose pixelshuffle or nearest")
        self.scale, self.upsampler = scale, upsampler
        self.conv_first = nn.Conv2d(3, channels, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(channels, growth) for _ in range(blocks)])
        self.conv_body = nn.Conv2d(channels, channels, 3, 1, 1)
        add_x4_upsampler(self, upsampler == "pixelshuffle", channels)
        self.conv_hr = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv_last = nn.Conv2d(channels, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = _lrelu(self.upsample(feat)) if self.upsampler == "pixelshuffle" else nearest_x4(self, feat)
        return self.conv_last(_lrelu(self.conv_hr(feat)))
