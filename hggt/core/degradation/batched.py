"""The batched torch degradation path, for training on the fly (CUDA when present).

Same semantics as :mod:`hggt.core.degradation.cpu`: per-sample kernels blur the whole batch in
one grouped convolution; resize, noise and JPEG run per sample (their sizes and qualities differ)
and the final resize brings every sample to the common target size. JPEG uses torchvision's
nvJPEG on CUDA and OpenCV on the CPU.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hggt.core.degradation import cpu
from hggt.core.degradation.kernels import kernel_for
from hggt.core.degradation.resize import area_weights, scaled_size
from hggt.core.degradation.settings import DegradationRecord

_LUMA = (0.299, 0.587, 0.114)


def kernel_stack(records: Sequence[DegradationRecord], device: torch.device) -> torch.Tensor:
    """(B, K, K) kernels, each zero-padded to the largest size K in the batch."""
    size = max(r.kernel_size for r in records)
    out = np.zeros((len(records), size, size), np.float32)
    for i, r in enumerate(records):
        off = (size - r.kernel_size) // 2
        out[i, off : off + r.kernel_size, off : off + r.kernel_size] = kernel_for(r)
    return torch.from_numpy(out).to(device)


def blur(x: torch.Tensor, records: Sequence[DegradationRecord]) -> torch.Tensor:
    """Per-sample blur of a (B, C, H, W) batch with reflect-101 borders."""
    b, c, h, w = x.shape
    kernels = kernel_stack(records, x.device)
    pad = kernels.shape[-1] // 2
    weight = kernels.repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, K, K)
    padded = F.pad(x.reshape(1, b * c, h, w), (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(padded, weight, groups=b * c).reshape(b, c, h, w)


def resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "area":
        wy = torch.from_numpy(area_weights(x.shape[-2], size[0]).astype(np.float32)).to(x.device)
        wx = torch.from_numpy(area_weights(x.shape[-1], size[1]).astype(np.float32)).to(x.device)
        return torch.einsum("oh,bchw,pw->bcop", wy, x, wx)
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=False)


def blur_resize(x: torch.Tensor, records: Sequence[DegradationRecord]) -> list[torch.Tensor]:
    blurred = blur(x, records)
    h, w = x.shape[-2:]
    return [resize(blurred[i : i + 1], scaled_size(h, w, r.resize_scale), r.resize_mode) for i, r in enumerate(records)]


def _generator(seed: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def noise(x: torch.Tensor, record: DegradationRecord) -> torch.Tensor:
    """Noise for one (1, 3, h, w) sample, clamped to [0, 1]."""
    g = _generator(record.seed, x.device)
    _, _, h, w = x.shape
    if record.noise_type == "gaussian":
        shape = (1, 1 if record.gray_noise else 3, h, w)
        n = torch.randn(shape, generator=g, device=x.device, dtype=x.dtype) * (record.noise_sigma / 255.0)
    else:
        src = x
        if record.gray_noise:
            luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            src = (x * luma).sum(dim=1, keepdim=True)
        levels = torch.clamp(torch.round(src * 255.0), 0, 255)
        distinct = int((torch.bincount(levels.flatten().long(), minlength=256) > 0).sum())
        vals = float(2 ** math.ceil(math.log2(max(distinct, 1))))
        counts = torch.poisson(levels * (vals / 255.0), generator=g)
        n = (counts / vals - levels / 255.0) * record.poisson_scale
    return torch.clamp(x + n, 0.0, 1.0)


def quantize(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.round(x * 255.0), 0, 255)


_cuda_jpeg_ok = True


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of one (1, 3, h, w) sample in [0, 1]; returns values in [0, 1]."""
    global _cuda_jpeg_ok
    u8 = quantize(x)[0].to(torch.uint8)
    if x.is_cuda and _cuda_jpeg_ok:
        try:
            from torchvision.io import decode_jpeg, encode_jpeg

            data = encode_jpeg(u8, quality=int(quality))
            out = decode_jpeg(data.cpu(), device=x.device)
            return out.unsqueeze(0).to(x.dtype) / 255.0
        except (RuntimeError, TypeError) as exc:  # torchvision without nvJPEG
            _cuda_jpeg_ok = False
            warnings.warn(f"GPU JPEG unavailable ({exc}); using OpenCV on the CPU", stacklevel=2)
    rgb = u8.permute(1, 2, 0).cpu().numpy()
    out = torch.from_numpy(cpu.jpeg(rgb, quality)).to(x.device)
    return out.permute(2, 0, 1).unsqueeze(0).to(x.dtype) / 255.0


def degrade(x: torch.Tensor, records: Sequence[DegradationRecord], target: tuple[int, int] | None = None) -> torch.Tensor:
    """Degrade a (B, 3, H, W) float batch in [0, 1]; one record per sample.

    Returns (B, 3, th, tw) float values on 8-bit levels (k / 255); ``target`` defaults to (H, W).
    """
    if x.shape[0] != len(records):
        raise ValueError(f"{x.shape[0]} images but {len(records)} records")
    target = target or tuple(x.shape[-2:])
    outs = []
    for sample, record in zip(blur_resize(x, records), records):
        y = jpeg(noise(sample, record), record.jpeg_quality)
        outs.append(resize(y, target, record.resize_mode))
    return quantize(torch.cat(outs)) / 255.0
