"""ELAN (Zhang et al., ECCV 2022, "Efficient Long-Range Attention Network for Image
Super-resolution") at scale 1, for same-size enhancement.

A head convolution, efficient long-range attention blocks (ELAB), a long skip and a tail
convolution. Each ELAB alternates a local feature extraction (LFE: two shift-convolutions, the
first expanding channels by `expansion`, with a ReLU between) and a grouped multi-scale
self-attention (GMSA: channels split into one group per window size, self-attention inside
non-overlapping windows of that size, every other ELAB on windows shifted by half their size).
The accelerated self-attention of the paper: batch normalisation instead of layer norm, one
shared embedding for queries and keys, and attention maps computed by the first GMSA of an ELAB
and reused by its next `shared_depth` ones. As in the authors' code (ELAN `n_share: 0`, so every
GMSA computes its own attention) the attention is softmax(q @ q^T) without the 1/sqrt(d) of
scaled dot-product attention (`scaled_attention` restores it), and inputs are scaled by
`img_range` 255 (BasicSR's convention). Inputs are reflect-padded to a multiple of the windows'
least common multiple and the output cropped back.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from hggt.core.archs.common import InputRange, conv3x3, pad_to_multiple


class ShiftConv(nn.Module):
    """Four fifths of the channels move one pixel (left, right, up, down), then a 1x1 convolution."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.group = cin // 5
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.group
        out = torch.zeros_like(x)
        out[:, 0 * g : 1 * g, :, :-1] = x[:, 0 * g : 1 * g, :, 1:]
        out[:, 1 * g : 2 * g, :, 1:] = x[:, 1 * g : 2 * g, :, :-1]
        out[:, 2 * g : 3 * g, :-1, :] = x[:, 2 * g : 3 * g, 1:, :]
        out[:, 3 * g : 4 * g, 1:, :] = x[:, 3 * g : 4 * g, :-1, :]
        out[:, 4 * g :] = x[:, 4 * g :]
        return self.conv(out)


class LFE(nn.Module):
    def __init__(self, channels: int, expansion: int):
        super().__init__()
        self.body = nn.Sequential(
            ShiftConv(channels, channels * expansion), nn.ReLU(inplace=True), ShiftConv(channels * expansion, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """(B, C, H, W) -> (B * H/w * W/w, w*w, C)"""
    b, c, h, wd = x.shape
    x = x.view(b, c, h // w, w, wd // w, w).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(-1, w * w, c)


def _unwindows(x: torch.Tensor, w: int, b: int, h: int, wd: int) -> torch.Tensor:
    c = x.shape[-1]
    x = x.view(b, h // w, wd // w, w, w, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, c, h, wd)


def _attention(q: torch.Tensor, scaled: bool) -> torch.Tensor:
    """softmax(q q^T), over d or not. Unscaled logits reach about d (60 at paper size) on the
    diagonal, where bfloat16's rounding (~0.25) would reshape the softmax: under autocast they are
    computed in float32."""
    if torch.is_autocast_enabled(q.device.type):
        with torch.autocast(q.device.type, enabled=False):
            return _attention(q.float(), scaled)
    logits = q @ q.transpose(-2, -1)
    return torch.softmax(logits / math.sqrt(q.shape[-1]) if scaled else logits, dim=-1)


class GMSA(nn.Module):
    def __init__(self, channels: int, windows: tuple[int, ...], shift: bool, computes_attention: bool, scaled: bool = False):
        super().__init__()
        if channels % len(windows):
            raise ValueError(f"{channels} channels do not split into {len(windows)} window groups")
        self.windows, self.shift, self.computes_attention, self.scaled = windows, shift, computes_attention, scaled
        self.split = channels // len(windows)
        width = 2 * channels if computes_attention else channels
        self.project_in = nn.Sequential(nn.Conv2d(channels, width, 1), nn.BatchNorm2d(width))
        self.project_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, shared: list[torch.Tensor] | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, _, h, wd = x.shape
        feats = self.project_in(x)
        if self.computes_attention:
            qk, v = feats.chunk(2, dim=1)
            qks = qk.split(self.split, dim=1)
        else:
            v, qks = feats, [None] * len(self.windows)
        outs, attns = [], []
        for i, (w, vg, qg) in enumerate(zip(self.windows, v.split(self.split, dim=1), qks)):
            if self.shift:
                vg = torch.roll(vg, shifts=(-w // 2, -w // 2), dims=(2, 3))
                qg = None if qg is None else torch.roll(qg, shifts=(-w // 2, -w // 2), dims=(2, 3))
            if qg is not None:
                attn = _attention(_windows(qg, w), self.scaled)
            else:
                attn = shared[i]
            y = _unwindows(attn @ _windows(vg, w), w, b, h, wd)
            if self.shift:
                y = torch.roll(y, shifts=(w // 2, w // 2), dims=(2, 3))
            outs.append(y)
            attns.append(attn)
        return self.project_out(torch.cat(outs, dim=1)), attns


class ELAB(nn.Module):
    def __init__(self, channels: int, expansion: int, windows: tuple[int, ...], shift: bool, shared_depth: int, scaled: bool):
        super().__init__()
        self.lfes = nn.ModuleList(LFE(channels, expansion) for _ in range(1 + shared_depth))
        self.gmsas = nn.ModuleList(GMSA(channels, windows, shift, i == 0, scaled) for i in range(1 + shared_depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shared = None
        for lfe, gmsa in zip(self.lfes, self.gmsas):
            x = x + lfe(x)
            y, attns = gmsa(x, shared)
            shared = shared or attns
            x = x + y
        return x


class ELAN(nn.Module):
    """Options as :class:`hggt.core.sizes.ELANSize`, whose defaults are the paper's (the authors'
    train_EnhanceELAN_03/04.yml): 36 ELABs of one LFE and one GMSA each (no attention sharing), 180
    channels, windows 4/8/16, expansion 2, unscaled attention, img_range 255. ``shared_depth=1,
    scaled_attention=True, img_range=1`` is hggt's earlier reading of the paper."""

    def __init__(
        self, *, blocks: int, channels: int, windows: tuple[int, ...], expansion: int, shared_depth: int, scaled_attention: bool,
        img_range: float, scale: int = 1,
    ):
        super().__init__()
        if scale != 1:
            raise ValueError("ELAN here is the same-size (x1) enhancer")
        if blocks % (1 + shared_depth):
            raise ValueError(f"blocks ({blocks}) must be a multiple of 1 + shared_depth ({1 + shared_depth})")
        self.windows = tuple(windows)
        self.pad_multiple = math.lcm(*self.windows)
        self.input_range = InputRange(img_range)
        self.head = conv3x3(3, channels)
        self.body = nn.Sequential(*[
            ELAB(channels, expansion, self.windows, i % 2 == 1, shared_depth, scaled_attention) for i in range(blocks // (1 + shared_depth))
        ])
        self.tail = conv3x3(channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, self.pad_multiple)
        feat = self.head(self.input_range.encode(x))
        out = self.input_range.decode(self.tail(feat + self.body(feat)))
        return out[..., :h, :w]
