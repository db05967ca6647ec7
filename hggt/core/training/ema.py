"""Exponential moving average of generator weights.

The authors' BasicSR ``model_ema(decay=0.999)`` mixes every parameter with a constant decay from
the first iteration on, and that is the default. ``warmup`` uses ``min(decay, (1 + t) / (10 + t))``
at update ``t`` instead, so that a short run from random weights (the demo, a smoke test) is not
mostly its initialisation. Buffers are copied rather than averaged: the paper's generators hold
only constant ones (SwinIR's attention masks and position indices), which BasicSR leaves as built.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


class EMA:
    def __init__(self, model: nn.Module, decay: float, warmup: bool = False):
        self.decay, self.warmup = decay, warmup
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = self.decay_at(step)
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.mul_(decay).add_(p.detach(), alpha=1 - decay)
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)
