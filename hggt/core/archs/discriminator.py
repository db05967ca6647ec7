"""U-Net discriminator with spectral normalisation (Wang et al., ICCVW 2021, Real-ESRGAN): an
encoder of three stride-2 convolutions, a decoder that upsamples bilinearly and adds the
encoder's features at each scale, two refining convolutions and a one-channel per-pixel realness
map. Every convolution but the first and last is spectrally normalised."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm


class UNetDiscriminator(nn.Module):
    def __init__(self, channels: int = 64, skip_connection: bool = True):
        super().__init__()
        c = channels
        self.skip = skip_connection

        def sn(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Module:
            return spectral_norm(nn.Conv2d(cin, cout, kernel, stride, kernel // 2 if stride == 1 else 1, bias=False))

        self.first = nn.Conv2d(3, c, 3, 1, 1)
        self.down = nn.ModuleList([sn(c, 2 * c, 2, 4), sn(2 * c, 4 * c, 2, 4), sn(4 * c, 8 * c, 2, 4)])
        self.up = nn.ModuleList([sn(8 * c, 4 * c), sn(4 * c, 2 * c), sn(2 * c, c)])
        self.refine = nn.ModuleList([sn(c, c), sn(c, c)])
        self.last = nn.Conv2d(c, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.2, inplace=True)  # noqa: E731
        skips = [act(self.first(x))]
        for conv in self.down:
            skips.append(act(conv(skips[-1])))
        y = skips.pop()
        for conv in self.up:
            skip = skips.pop()
            y = act(conv(F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)))
            if self.skip:
                y = y + skip
        for conv in self.refine:
            y = act(conv(y))
        return self.last(y)
