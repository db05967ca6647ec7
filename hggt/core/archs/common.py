"""Pieces shared by the generators."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# ImageNet-style RGB mean that RCAN and ELAN subtract before the network and add back after it.
RGB_MEAN = (0.4488, 0.4371, 0.4040)


class InputRange(nn.Module):
    """BasicSR's RCAN/ELAN input convention: the network sees (x - mean) * img_range and its output
    y becomes y / img_range + mean. img_range 255 (the authors' configs) puts features on the 0-255
    scale, which changes what biases, batch norm and attention see, hence training; 1 was hggt's
    earlier default."""

    def __init__(self, img_range: float):
        super().__init__()
        self.img_range = float(img_range)
        self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.img_range

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        return y / self.img_range + self.mean


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


def pad_to_multiple(x: torch.Tensor, m: int, always: bool = False) -> torch.Tensor:
    """Reflect-pad the bottom and right to multiples of ``m`` (replicate for inputs too small to
    reflect). ``always``: pad by ``m - size % m``, 1 to m, so a size that is already a multiple
    gains a whole ``m`` (the HGGT authors' SwinIR check_image_size does; the extra reflected rows
    change what the border windows attend to). Always one pad call, zero-width or not, so that an
    ONNX trace stays size-dynamic."""
    h, w = x.shape[-2], x.shape[-1]
    ph, pw = m - h % m, m - w % m
    if not always:
        ph, pw = ph % m, pw % m
    if torch.jit.is_tracing() or min(int(h), int(w)) > m:
        return F.pad(x, (0, pw, 0, ph), mode="reflect")
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def pixel_shuffle_x4(channels: int) -> nn.Sequential:
    """Two steps of (3x3 convolution to 4C channels, pixel shuffle x2): the x4 upsampler of the
    authors' RRDBPSNet and of SwinIR, whose weight files name these layers upsample.0 and upsample.2."""
    return nn.Sequential(
        nn.Conv2d(channels, 4 * channels, 3, 1, 1), nn.PixelShuffle(2), nn.Conv2d(channels, 4 * channels, 3, 1, 1), nn.PixelShuffle(2)
    )


def add_x4_upsampler(owner: nn.Module, pixelshuffle: bool, channels: int) -> None:
    """Give a x4 generator its upsampler: :func:`pixel_shuffle_x4` as ``upsample``, or ESRGAN's and
    real-SR SwinIR's two nearest-neighbour steps, convolutions ``conv_up1`` and ``conv_up2``. Set on
    the generator itself, not wrapped in a module, so that the weights keep the reference names
    (``upsample.0``, ``conv_up1``) that BasicSR and Spandrel read; built in the references' order, so
    one seed draws the same weights."""
    if pixelshuffle:
        owner.upsample = pixel_shuffle_x4(channels)
    else:
        owner.conv_up1 = nn.Conv2d(channels, channels, 3, 1, 1)
        owner.conv_up2 = nn.Conv2d(channels, channels, 3, 1, 1)


def nearest_x4(owner: nn.Module, feat: torch.Tensor) -> torch.Tensor:
    """The nearest-neighbour upsampler of :func:`add_x4_upsampler`: twice (nearest x2, conv, LeakyReLU 0.2)."""
    for conv in (owner.conv_up1, owner.conv_up2):
        feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2, inplace=True)
    return feat
