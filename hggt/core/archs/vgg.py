"""VGG19 features for the perceptual loss, with weights resolved locally, never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
from torchvision.models import vgg19

from hggt.core.weights import KNOWN, require

WEIGHTS_FILE = KNOWN["vgg19"].file  # torchvision's ImageNet VGG19 (IMAGENET1K_V1)
# Indices of the convolutions in torchvision's vgg19().features; their outputs are pre-ReLU.
LAYERS = {"conv1_2": 2, "conv2_2": 7, "conv3_4": 16, "conv4_4": 25, "conv5_4": 34}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def resolve_vgg19_weights(configured: str | None = None) -> Path:
    """The configured file, else the torch hub cache; a clear error naming both when absent."""
    return require(
        "vgg19", configured,
        "or point --set enhancers.train.perceptual_weights=/path/to/vgg19.pth (train_sr.train.perceptual_weights for "
        "Real-ISR) at a copy, or, knowingly, train without the perceptual term: --set enhancers.train.perceptual_weight=0 "
        "(the run records it)",
    )


class VGGFeatures(nn.Module):
    """Pre-ReLU features of the named layers, input in [0, 1] normalised by ImageNet statistics."""

    def __init__(self, layers: tuple[str, ...], weights: str | os.PathLike):
        super().__init__()
        net = vgg19(weights=None)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        last = max(LAYERS[name] for name in layers)
        self.features = net.features[: last + 1].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.taps = {LAYERS[name]: name for name in layers}
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)  # a fixed feature extractor, whatever the trainer's mode

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        x = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out[self.taps[i]] = x.clone()  # the next in-place ReLU would overwrite it
        return out
