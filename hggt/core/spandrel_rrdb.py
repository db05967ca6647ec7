"""Spandrel support for hggt's pixel-shuffle RRDBNet (the HGGT authors' ``RRDBPSNet``).

Spandrel 0.4.2 (hence chaiNNer and ComfyUI) has no pixel-shuffle RRDB: its ESRGAN architecture
matches the key names of such a file (``conv_first``, ``body.N.rdbK.convM``, ``conv_body``,
``conv_last``), ignores the ``upsample.*`` layers and builds a 1x network: a wrong model and no
error. This module adds an architecture that detects these files from their keys and shapes
and rebuilds the network exactly (output identical to ``hggt.core.archs.rrdbnet.RRDBNet``)::

    from hggt.core.spandrel_rrdb import register
    register()                      # once per process; a second call does nothing
    model = spandrel.ModelLoader().load_from_file("rrdb-...-pixelshuffle.safetensors")

``register`` puts it in Spandrel's ``MAIN_REGISTRY`` ahead of ESRGAN. The module is
self-contained (it imports only torch and spandrel, nothing else of hggt), so it can be copied
beside a Spandrel install, e.g. into a ComfyUI custom node, and work the same.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F
from spandrel import MAIN_REGISTRY, ArchRegistry, ArchSupport, Architecture, ImageModelDescriptor, StateDict

ARCH_ID = "HGGT-RRDBPSNet"
ARCH_NAME = "RRDBPSNet (HGGT pixel-shuffle RRDB)"
# The hggt network and upsampler this architecture covers (what hggt's export calls them).
HGGT_ARCH, HGGT_UPSAMPLER = "rrdb", "pixelshuffle"

_BODY = re.compile(r"body\.(\d+)\.rdb[123]\.conv[1-5]\.(weight|bias)")


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2, inplace=True)


class DenseBlock(nn.Module):
    """Five densely connected 3x3 convolutions (growth ``grow``), the last back to ``feat``
    channels, scaled by 0.2 before the skip."""

    def __init__(self, feat: int, grow: int):
        super().__init__()
        self.conv1 = nn.Conv2d(feat, grow, 3, 1, 1)
        self.conv2 = nn.Conv2d(feat + grow, grow, 3, 1, 1)
        self.conv3 = nn.Conv2d(feat + 2 * grow, grow, 3, 1, 1)
        self.conv4 = nn.Conv2d(feat + 3 * grow, grow, 3, 1, 1)
        self.conv5 = nn.Conv2d(feat + 4 * grow, feat, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            out.append(_lrelu(conv(torch.cat(out, 1))))
        return x + 0.2 * self.conv5(torch.cat(out, 1))


class ResidualInResidual(nn.Module):
    def __init__(self, feat: int, grow: int):
        super().__init__()
        self.rdb1 = DenseBlock(feat, grow)
        self.rdb2 = DenseBlock(feat, grow)
        self.rdb3 = DenseBlock(feat, grow)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBPSNet(nn.Module):
    """RRDBNet whose upsampler is a chain of (3x3 convolution to r*r*num_feat channels, pixel
    shuffle r), one LeakyReLU after the whole chain (BasicSR ``Upsample``); parameter names as
    hggt's and the authors' (``upsample.0``, ``upsample.2``, ...)."""

    def __init__(self, in_nc: int = 3, out_nc: int = 3, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32,
                 upscales: tuple[int, ...] = (2, 2)):
        super().__init__()
        self.upscales = tuple(upscales)
        self.scale = math.prod(self.upscales)
        self.conv_first = nn.Conv2d(in_nc, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualInResidual(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        steps: list[nn.Module] = []
        for r in self.upscales:
            steps += [nn.Conv2d(num_feat, r * r * num_feat, 3, 1, 1), nn.PixelShuffle(r)]
        self.upsample = nn.Sequential(*steps)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_nc, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = _lrelu(self.upsample(feat))
        return self.conv_last(_lrelu(self.conv_hr(feat)))


def _hyperparameters(sd: StateDict) -> dict | None:
    """The constructor arguments of :class:`RRDBPSNet` read from a state dict's shapes, or None
    when its keys are not exactly those of such a network (so a near miss falls through to
    the other architectures instead of loading wrongly)."""
    try:
        num_feat, in_nc = sd["conv_first.weight"].shape[:2]
        out_nc = sd["conv_last.weight"].shape[0]
        num_grow_ch = sd["body.0.rdb1.conv1.weight"].shape[0]
        blocks = {int(m.group(1)) for m in map(_BODY.fullmatch, sd) if m}
        upscales = []
        while f"upsample.{2 * len(upscales)}.weight" in sd:
            cout, cin = sd[f"upsample.{2 * len(upscales)}.weight"].shape[:2]
            r = math.isqrt(cout // num_feat)
            if cin != num_feat or r < 2 or r * r * num_feat != cout:
                return None
            upscales.append(r)
    except (KeyError, AttributeError, ValueError, IndexError):
        return None
    num_block = len(blocks)
    if not upscales or blocks != set(range(num_block)):
        return None
    expected = {f"{name}.{p}" for name in ("conv_first", "conv_body", "conv_hr", "conv_last") for p in ("weight", "bias")}
    expected |= {f"upsample.{2 * i}.{p}" for i in range(len(upscales)) for p in ("weight", "bias")}
    expected |= {f"body.{b}.rdb{k}.conv{c}.{p}" for b in range(num_block) for k in (1, 2, 3) for c in range(1, 6) for p in ("weight", "bias")}
    if set(sd) != expected:
        return None
    return {"in_nc": int(in_nc), "out_nc": int(out_nc), "num_feat": int(num_feat), "num_block": num_block,
            "num_grow_ch": int(num_grow_ch), "upscales": tuple(upscales)}


class RRDBPSNetArch(Architecture[RRDBPSNet]):
    def __init__(self) -> None:
        super().__init__(id=ARCH_ID, name=ARCH_NAME, detect=lambda sd: _hyperparameters(sd) is not None)

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[RRDBPSNet]:
        hp = _hyperparameters(state_dict)
        if hp is None:
            raise ValueError("not the state dict of a pixel-shuffle RRDBNet")
        model = RRDBPSNet(**hp)
        return ImageModelDescriptor(
            model, state_dict, architecture=self, purpose="SR" if model.scale > 1 else "Restoration",
            tags=[f"{hp['num_feat']}nf", f"{hp['num_block']}nb", f"{hp['num_grow_ch']}gc", "pixelshuffle"],
            supports_half=True, supports_bfloat16=True, scale=model.scale,
            input_channels=hp["in_nc"], output_channels=hp["out_nc"],
        )


def support() -> ArchSupport:
    """The registry entry: detected before Spandrel's ESRGAN, which would take these files."""
    return ArchSupport.from_architecture(RRDBPSNetArch(), before=("ESRGAN",))


def register(registry: ArchRegistry | None = None) -> ArchRegistry:
    """Add the architecture to ``registry`` (Spandrel's MAIN_REGISTRY, which every
    ``spandrel.ModelLoader()`` reads, by default). Idempotent: a registry that has it keeps it."""
    registry = MAIN_REGISTRY if registry is None else registry
    if ARCH_ID not in registry:
        registry.add(support(), ignore_duplicates=True)
    return registry


def registry_without() -> ArchRegistry:
    """A new registry with Spandrel's own architectures only: what a user without this extension gets."""
    plain = ArchRegistry()
    plain.add(*(a for a in MAIN_REGISTRY.architectures() if a.architecture.id != ARCH_ID))
    return plain


def registry_with() -> ArchRegistry:
    """A new registry with Spandrel's architectures and this one (MAIN_REGISTRY left as it is)."""
    return register(registry_without())
