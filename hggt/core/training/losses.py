"""Losses of the reference config: L1, VGG19 perceptual (L1 on pre-ReLU features), vanilla GAN."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from hggt.core.archs.vgg import VGGFeatures


class PerceptualLoss(nn.Module):
    def __init__(self, layer_weights: dict[str, float], weights_path: str):
        super().__init__()
        self.layer_weights = dict(layer_weights)
        self.vgg = VGGFeatures(tuple(self.layer_weights), weights_path)

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fx = self.vgg(x)
        with torch.no_grad():
            ft = self.vgg(target)
        return sum(w * F.l1_loss(fx[name], ft[name]) for name, w in self.layer_weights.items())


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Vanilla GAN loss: binary cross-entropy of per-pixel logits against all-real or all-fake."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def negative_gt_loss(
    sr: torch.Tensor, neg: torch.Tensor, m_ind: torch.Tensor, has_neg: torch.Tensor, weight: float = 300.0,
    count: torch.Tensor | float | None = None, clamp: bool = False,
) -> torch.Tensor:
    """The paper's negative term: -weight * mean over the batch of L1(M_ind * SR, M_ind * N*), where
    samples without a negative add 0. ``count`` is the number of samples the mean divides by
    (default: this batch's size).

    The authors' code uses SR as it is (``clamp=False``, the paper preset). As written the term is
    unbounded below: the generator can lower the loss without end by pushing indicated pixels out
    of the image range, and with large indication maps (undertrained enhancers, tiny demo runs)
    training diverged here to losses of 1e22 within a hundred iterations. ``clamp=True`` clamps SR
    to [0, 1] inside the term, so moving away from N* pays only up to the range of real images."""
    out = sr.float().clamp(0, 1) if clamp else sr.float()
    per_sample = (m_ind * (out - neg.float())).abs().mean(dim=(1, 2, 3))
    total = (per_sample * has_neg.float()).sum()
    return -weight * total / (sr.shape[0] if count is None else count)
