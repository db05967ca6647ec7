"""Declared enhancers (issue 21): restoration or SR models that hggt does not train, loaded from a
model file through Spandrel's architecture detection, as chaiNNer and ComfyUI load them.

A declared model makes a version of the same size as the HR image, like the trained enhancers: a
1x model runs on the image itself; a 2x or 4x model runs on the image downscaled by its scale
(area averaging, after reflect-padding to a multiple of the scale) and its output is cropped back
to the original size. Such a version is a *re-synthesis* of detail the model believes in from a
smaller, cleaner input, not an edit of the photo as it is: it carries that model's idea of texture
(often crisper, sometimes invented) rather than a restoration of the original's own pixels.

Inference goes through :func:`hggt.core.tiling.tiled_apply` as for the trained enhancers (tiles,
batching, halving the tile on CUDA out-of-memory). Mixed precision (bfloat16 on CUDA) is used only
where Spandrel says the architecture supports it; the others run in float32.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import PurePosixPath

import torch
import torch.nn as nn
import torch.nn.functional as F

from hggt.core.sizes import DECLARED_SUFFIXES
from hggt.core.tiling import tiled_apply

SUFFIXES = DECLARED_SUFFIXES
PURPOSES = ("SR", "Restoration")


class DeclaredModelError(ValueError):
    """A declared model file that cannot serve as an enhancer; the message names the file and why."""


def model_suffix(name: str) -> str:
    suffix = PurePosixPath(name.split("?", 1)[0]).suffix.lower()
    if suffix not in SUFFIXES:
        raise DeclaredModelError(f"declared model {name}: unsupported file type {suffix or '(none)'!r}; "
                                 f"Spandrel reads {', '.join(SUFFIXES)}")
    return suffix


def load_descriptor(data: bytes, name: str, device: str | torch.device = "cpu"):
    """The Spandrel ImageModelDescriptor of a model file's bytes (``name``: its path or URL, for the
    file type and for messages). Refuses what cannot make an RGB version of an image."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    suffix = model_suffix(name)
    # Spandrel reads files by path and picks the format by extension; the bytes may come from any
    # fsspec URL, so they pass through a private temporary file.
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="hggt-declared-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            descriptor = ModelLoader(device).load_from_file(tmp)
        except UnsupportedModelError:
            raise DeclaredModelError(f"declared model {name}: Spandrel cannot load it: its weights match none of the "
                                     "architectures Spandrel knows (detection reads the state dict's key names and shapes)") from None
        except Exception as exc:  # noqa: BLE001 - whatever Spandrel raises, the user needs its words and the file's name
            said = str(exc).replace(tmp, name).strip() or type(exc).__name__
            said = said if len(said) <= 600 else said[:600] + " ..."  # a mismatch lists every tensor: the first lines tell
            raise DeclaredModelError(f"declared model {name}: Spandrel cannot load it: {type(exc).__name__}: {said}") from None
    finally:
        os.unlink(tmp)
    arch = descriptor.architecture.id
    if not isinstance(descriptor, ImageModelDescriptor):
        raise DeclaredModelError(f"declared model {name}: Spandrel loads it as {arch}, a {type(descriptor).__name__} "
                                 "(e.g. inpainting); an enhancer needs an image-to-image model")
    if descriptor.purpose not in PURPOSES:
        raise DeclaredModelError(f"declared model {name}: {arch} is a {descriptor.purpose} model; "
                                 f"an enhancer is a {' or '.join(PURPOSES)} model of whole photos")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise DeclaredModelError(f"declared model {name}: {arch} maps {descriptor.input_channels} to "
                                 f"{descriptor.output_channels} channels; the versions are RGB (3 to 3)")
    return descriptor.eval()


def check_scale(descriptor, declared: int | None, name: str) -> int:
    """The model's scale: Spandrel's, which a scale given in the config must match."""
    if declared is not None and declared != descriptor.scale:
        raise DeclaredModelError(f"declared model {name}: the config says scale {declared}, but Spandrel detects a "
                                 f"{descriptor.scale}x {descriptor.architecture.id} model; set scale: {descriptor.scale} or leave it out")
    return int(descriptor.scale)


def inspect_declared(data: bytes, name: str, scale: int | None) -> dict:
    """Every check of a declared model file's bytes (``name``: its path or URL): Spandrel loads it
    as an RGB image model (:func:`load_descriptor`) whose scale matches a configured one
    (:func:`check_scale`); :func:`describe`'s facts, with the scale. train-enhancers runs this
    before recording the model, and `hggt show-config` before any stage runs."""
    descriptor = load_descriptor(data, name)
    return {**describe(descriptor), "scale": check_scale(descriptor, scale, name)}


def check_declared_file(model: str, scale: int | None) -> dict | None:
    """:func:`inspect_declared` of a declared model as the config names it; a remote URL is not
    fetched here (None: train-enhancers checks it when it reads it)."""
    path = model.removeprefix("file://")
    if "://" in path:
        return None
    path = os.path.abspath(os.path.expanduser(path))
    model_suffix(model)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DeclaredModelError(f"declared model file {model} does not exist") from None
    return inspect_declared(data, model, scale)


def describe(descriptor) -> dict:
    """What enhancers.parquet and the logs record of a loaded model."""
    return {
        "arch": descriptor.architecture.id, "scale": int(descriptor.scale),
        "parameters": sum(p.numel() for p in descriptor.model.parameters()),
        "supports_half": bool(descriptor.supports_half), "supports_bfloat16": bool(descriptor.supports_bfloat16),
        "tiling": descriptor.tiling.name,
    }


class DeclaredNet(nn.Module):
    """A Spandrel model as a plain module for tiled inference: batched (N, 3, h, w) in [0, 1] in,
    (N, 3, h*scale, w*scale) out, padded to the architecture's size requirements and cropped back
    by Spandrel's own call, clamped to [0, 1]."""

    def __init__(self, descriptor):
        super().__init__()
        self.descriptor = descriptor
        self.net = descriptor.model  # registered, so .to() and parameters() reach the weights
        self.scale = int(descriptor.scale)
        self.supports_bfloat16 = bool(descriptor.supports_bfloat16)
        self.arch = descriptor.architecture.id

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x)


def inference_dtype(net: DeclaredNet, device: torch.device, amp: bool) -> torch.dtype | None:
    """bfloat16 autocast on CUDA when asked for and the architecture supports it; None (float32) else."""
    return torch.bfloat16 if device.type == "cuda" and amp and net.supports_bfloat16 else None


def downscale(image: torch.Tensor, scale: int) -> torch.Tensor:
    """(1, C, H, W) reflect-padded to multiples of ``scale`` and area-averaged by it."""
    if scale == 1:
        return image
    h, w = image.shape[-2:]
    pad_h, pad_w = -h % scale, -w % scale
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        image = F.pad(image, (0, pad_w, 0, pad_h), mode=mode)
    return F.avg_pool2d(image, scale)  # area averaging for an integer factor


@torch.no_grad()
def enhance_declared(net: DeclaredNet, image: torch.Tensor, tile: int, overlap: int, batch: int,
                     amp_dtype: torch.dtype | None = None, channels_last: bool = False) -> torch.Tensor:
    """The version of a (1, 3, H, W) image in [0, 1] made by a declared model: (1, 3, H, W) on the
    CPU. ``tile`` is the side of an output tile as for the trained enhancers, so a 4x model runs on
    input tiles of tile/4 (its memory per tile stays about that of ours); ``overlap`` is context in
    the model's input pixels."""
    h, w = image.shape[-2:]
    small = downscale(image, net.scale)
    y = tiled_apply(net, small, max(tile // net.scale, 8), overlap, batch, scale=net.scale, amp_dtype=amp_dtype,
                    min_tile=max(32 // net.scale, 8), channels_last=channels_last)
    return y[..., :h, :w]
