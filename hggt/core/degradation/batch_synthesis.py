"""The reference's on-the-fly LQ synthesis for Real-ISR training, one batch at a time (torch).

The authors' Real-ISR models (``Ours_Model``, ``Ours_PosGT_Model``, ``Ours_PosNegGT_Model``:
Ori, Pos and Pos+Neg; their ``feed_data`` share one degradation) do not degrade patch by patch.
Their dataset returns the full 512 GT patch with a blur kernel per sample, and ``feed_data``
degrades the whole batch in one pass of SPEC section 2's one-stage model, then takes ONE random
256 GT / 64 LQ crop position for every image of the batch. That makes some draws per batch:

==========================  =========  =====================================================
draw                        drawn per  reference (``PosNegGTSR/basicsr/...``)
==========================  =========  =====================================================
blur kernel (type, size,    sample     ``data/posneggtposneg_dataset.py:231-251`` (padded
sigmas, rotation, cutoff)              to the largest size of the range)
resize direction, scale     batch      ``models/ours_posneggt_model.py:152-158``
resize mode                 batch      ``models/ours_posneggt_model.py:159`` (also the final resize, ``:178``)
Gaussian vs Poisson noise   batch      ``models/ours_posneggt_model.py:163``
noise sigma / Poisson scale sample     ``data/degradations.py:538,708`` (``torch.rand(b)``)
gray-noise flag             sample     ``data/degradations.py:540,710``
JPEG quality (a float)      sample     ``models/ours_posneggt_model.py:174``
crop position               batch      ``data/transforms.py:72-73`` via ``ours_posneggt_model.py:192``
==========================  =========  =====================================================

and computes, in this order (``ours_posneggt_model.py:150-181``; the same lines in
``ours_model.py:136-167`` and ``ours_posgt_model.py:141-172``):

1. blur with each sample's kernel, reflect-padded borders (``utils/img_process_util.py:7-31``);
2. ``F.interpolate(scale_factor=s)``: the output is ``floor(H s)`` and bilinear/bicubic map
   coordinates with 1/s itself, not with the size ratio; ``area`` is adaptive average pooling;
3. noise, then clamp to [0, 1] (``data/degradations.py:461-490, 537-554, 610-655, 707-724``):
   Gaussian: ``randn * sigma / 255`` per channel; a gray sample takes its noise from ONE
   (H, W) normal plane drawn for the whole batch and scaled by that sample's sigma. Poisson:
   the image rounded to 8-bit levels, ``vals = 2^ceil(log2(distinct levels))`` per sample,
   ``(poisson(img * vals) / vals - img) * scale`` added to the unrounded image; gray samples
   use the same on torchvision's luma (0.2989, 0.587, 0.114) for all three channels.
   Random numbers come from one generator in the reference's order: the gray plane / gray
   Poisson counts (only if some sample is gray), then the colour noise of the whole batch;
4. clamp, JPEG via :func:`hggt.core.degradation.diffjpeg.jpeg` with the float qualities;
5. ``F.interpolate(size=(H // scale, W // scale))`` with the same mode (here the size ratio
   defines the coordinates), then ``clamp(round(255 x), 0, 255) / 255``.

Public API (pure functions over torch tensors; any device)::

    draw = draw_batch(settings, batch_size, rng)          # BatchDraw, numpy Generator draws
    lq = synthesize(gt, draw, scale)                      # gt (B, 3, H, W) in [0, 1] -> (B, 3, H//scale, W//scale)
    gts, lq, (top, left) = paired_crop(gts, lq, gt_size, scale, rng)
    add_noise(x, draw)                                    # step 3 alone
    BatchDraw.from_rows(draw.rows())                      # a recorded draw, rebuilt

How a training step uses it (the ``paper`` preset: ``TABLE_2_REFERENCE``, scale 4, GT 256)::

    draw = draw_batch(TABLE_2_REFERENCE, gt.shape[0], rng)
    lq = synthesize(gt_original, draw, scale=4)           # the ORIGINAL 512 patches, on the GPU
    (orig, versions), lq, _ = paired_crop([gt_original, gt_versions], lq, 256, 4, rng)

``gts`` may be one tensor or a sequence of tensors whose last two dims are (H, W) (e.g. the
(B, 5, 3, H, W) stack of original + versions); all get the same crop. ``draw.rows()`` records
every parameter per sample, so an LQ batch can be regenerated from its rows and GT batch on the
same kind of device (CPU and CUDA generators draw different noise from one seed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hggt.core.degradation.diffjpeg import jpeg
from hggt.core.degradation.kernels import gaussian_kernel, sinc_kernel
from hggt.core.degradation.settings import DegradationSettings, KernelType, NoiseType, ResizeDirection, ResizeMode

# torchvision's rgb_to_grayscale, which the reference's gray Poisson noise uses (not BT.601's 0.299)
_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)
_DIRECTIONS: tuple[ResizeDirection, ...] = ("down", "same", "up")
_KERNEL_PARAMS = ("kernel_type", "kernel_size", "sigma_x", "sigma_y", "rotation", "sinc_cutoff")
_PER_SAMPLE = (*_KERNEL_PARAMS, "noise_sigma", "poisson_scale", "gray_noise", "jpeg_quality")
_PER_BATCH = ("resize_direction", "resize_scale", "resize_mode", "noise_type", "noise_seed")


def _f32(values) -> tuple[float, ...]:
    # The synthesis works in float32; recording the rounded values makes a replay exact.
    return tuple(float(v) for v in np.asarray(values, np.float64).astype(np.float32))


@dataclass(frozen=True, eq=False)
class BatchDraw:
    """Every random choice of one batch; with the GT batch it determines the LQ batch exactly.

    Per sample (tuples of length B): the kernel parameters (unused ones 0, as in
    :class:`~hggt.core.degradation.settings.DegradationRecord`), ``noise_sigma`` (0-255 scale;
    0 in a Poisson batch), ``poisson_scale`` (0 in a Gaussian batch), ``gray_noise`` and
    ``jpeg_quality`` (float). ``kernels`` holds the (B, K, K) float32 kernels, each zero-padded
    to K = 2 * max(kernel_half_range) + 1. Per batch: the resize direction, scale and mode, the
    noise type, and ``noise_seed``, the seed of the generator of the Gaussian/Poisson draws.
    """

    kernel_type: tuple[KernelType, ...]
    kernel_size: tuple[int, ...]
    sigma_x: tuple[float, ...]
    sigma_y: tuple[float, ...]
    rotation: tuple[float, ...]
    sinc_cutoff: tuple[float, ...]
    kernels: torch.Tensor
    resize_direction: ResizeDirection
    resize_scale: float
    resize_mode: ResizeMode
    noise_type: NoiseType
    noise_sigma: tuple[float, ...]
    poisson_scale: tuple[float, ...]
    gray_noise: tuple[bool, ...]
    jpeg_quality: tuple[float, ...]
    noise_seed: int

    def __post_init__(self):
        b = len(self.kernel_type)
        for name in _PER_SAMPLE:
            if len(getattr(self, name)) != b:
                raise ValueError(f"{name}: {len(getattr(self, name))} values for a batch of {b}")
        if self.kernels.dim() != 3 or self.kernels.shape[0] != b or self.kernels.shape[1] != self.kernels.shape[2] or self.kernels.shape[1] % 2 != 1:
            raise ValueError(f"kernels must be (B, K, K) with K odd, got {tuple(self.kernels.shape)}")
        if self.resize_direction not in _DIRECTIONS or self.noise_type not in ("gaussian", "poisson"):
            raise ValueError(f"unknown resize direction {self.resize_direction!r} or noise type {self.noise_type!r}")

    @property
    def batch_size(self) -> int:
        return len(self.kernel_type)

    def rows(self) -> list[dict]:
        """One dict per sample with every parameter (the per-batch ones repeated)."""
        batch = {k: getattr(self, k) for k in _PER_BATCH}
        return [{**{k: getattr(self, k)[i] for k in _PER_SAMPLE}, **batch, "kernel_extent": self.kernels.shape[-1], "sample": i} for i in range(self.batch_size)]

    @classmethod
    def from_rows(cls, rows: Sequence[dict]) -> "BatchDraw":
        """The draw that :meth:`rows` recorded, its kernels recomputed from their parameters."""
        if not rows:
            raise ValueError("no rows")
        first = rows[0]
        for name in _PER_BATCH:
            if any(r[name] != first[name] for r in rows):
                raise ValueError(f"{name} differs between the rows of one batch")
        per_sample = {k: tuple(r[k] for r in rows) for k in _PER_SAMPLE}
        kernels = [_kernel(kind, size, sx, sy, rot, cut) for kind, size, sx, sy, rot, cut in zip(*(per_sample[k] for k in _KERNEL_PARAMS))]
        return cls(
            **per_sample,
            kernels=_pad_stack(kernels, int(first["kernel_extent"])),
            **{k: first[k] for k in _PER_BATCH},
        )


def _kernel(kind: KernelType, size: int, sx: float, sy: float, rot: float, cutoff: float) -> np.ndarray:
    return sinc_kernel(size, cutoff) if kind == "sinc" else gaussian_kernel(size, sx, sy, rot)


def _pad_stack(kernels: Sequence[np.ndarray], extent: int) -> torch.Tensor:
    """(B, extent, extent) float32, each kernel zero-padded around its centre."""
    stack = np.zeros((len(kernels), extent, extent), np.float64)
    for i, kernel in enumerate(kernels):
        off = (extent - kernel.shape[0]) // 2
        stack[i, off : off + kernel.shape[0], off : off + kernel.shape[0]] = kernel
    return torch.from_numpy(stack.astype(np.float32))


def _draw_kernel(settings: DegradationSettings, rng: np.random.Generator) -> tuple[KernelType, int, float, float, float, float]:
    """One kernel's parameters as the reference's dataset draws them: size, sinc or not, then iso/aniso."""
    size = 2 * int(rng.integers(settings.kernel_half_range[0], settings.kernel_half_range[1] + 1)) + 1
    if rng.random() < settings.sinc_probability:
        # the reference widens the cutoff range for large kernels (posneggtposneg_dataset.py:234-237)
        cutoff = float(rng.uniform(math.pi / 3, math.pi)) if size < 13 else float(rng.uniform(math.pi / 5, math.pi))
        return "sinc", size, 0.0, 0.0, 0.0, cutoff
    if rng.random() < settings.iso_probability:
        sx = float(rng.uniform(*settings.sigma_range))
        return "iso", size, sx, sx, 0.0, 0.0
    sx = float(rng.uniform(*settings.sigma_range))
    sy = float(rng.uniform(*settings.sigma_range))
    return "aniso", size, sx, sy, float(rng.uniform(-math.pi, math.pi)), 0.0


def draw_batch(settings: DegradationSettings, batch_size: int, rng: np.random.Generator) -> BatchDraw:
    """Draw one batch's degradation from ``settings`` (the ``paper`` preset: ``TABLE_2_REFERENCE``).

    The order of draws is fixed (kernels sample by sample, then resize direction, scale, mode,
    noise type, per-sample noise strengths, gray flags, JPEG qualities, noise seed), so a seeded
    generator gives the same draw. JPEG qualities are uniform floats in ``jpeg_range``.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    params = [_draw_kernel(settings, rng) for _ in range(batch_size)]
    # every kernel padded to the largest size of the range, as the reference's dataset does
    kernels = _pad_stack([_kernel(*p) for p in params], 2 * settings.kernel_half_range[1] + 1)

    direction = _DIRECTIONS[int(rng.choice(3, p=settings.resize_probabilities))]
    if direction == "down":
        scale = float(rng.uniform(settings.resize_range[0], 1.0))
    elif direction == "up":
        scale = float(rng.uniform(1.0, settings.resize_range[1]))
    else:
        scale = 1.0
    mode = settings.resize_modes[int(rng.integers(len(settings.resize_modes)))]

    zeros = (0.0,) * batch_size
    if rng.random() < settings.gaussian_noise_probability:
        noise: NoiseType = "gaussian"
        sigma, pscale = _f32(rng.uniform(*settings.noise_sigma_range, size=batch_size)), zeros
    else:
        noise = "poisson"
        sigma, pscale = zeros, _f32(rng.uniform(*settings.poisson_scale_range, size=batch_size))
    gray = tuple(bool(g) for g in rng.random(batch_size) < settings.gray_noise_probability)
    quality = _f32(rng.uniform(settings.jpeg_range[0], settings.jpeg_range[1], size=batch_size))
    seed = int(rng.integers(0, 2**63 - 1))

    return BatchDraw(
        **dict(zip(_KERNEL_PARAMS, zip(*params))),
        kernels=kernels,
        resize_direction=direction,
        resize_scale=scale,
        resize_mode=mode,
        noise_type=noise,
        noise_sigma=sigma,
        poisson_scale=pscale,
        gray_noise=gray,
        jpeg_quality=quality,
        noise_seed=seed,
    )


def _blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    padded = F.pad(x, (k // 2,) * 4, mode="reflect")
    ph, pw = padded.shape[-2:]
    if b == 1:
        # the reference convolves a single-kernel batch channel by channel rather than grouped
        # (img_process_util.py:23-26); the two convolutions need not round alike
        return F.conv2d(padded.reshape(c, 1, ph, pw), kernels.reshape(1, 1, k, k)).reshape(b, c, h, w)
    weight = kernels.repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, K, K), sample-major
    return F.conv2d(padded.reshape(1, b * c, ph, pw), weight, groups=b * c).reshape(b, c, h, w)


def _resize(x: torch.Tensor, mode: ResizeMode, *, scale_factor: float | None = None, size: tuple[int, int] | None = None) -> torch.Tensor:
    extra = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(x, size=size, scale_factor=scale_factor, mode=mode, **extra)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


def _per_sample(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(-1, 1, 1, 1)


def _gaussian_noise(x: torch.Tensor, sigma: torch.Tensor, gray: Sequence[bool], g: torch.Generator) -> torch.Tensor:
    b, _, h, w = x.shape
    plane = None
    if any(gray):
        # one plane for the whole batch, each gray sample scaling it by its sigma (degradations.py:482)
        plane = torch.randn(h, w, generator=g, dtype=x.dtype, device=x.device) * sigma / 255.0  # (B, 1, H, W)
    noise = torch.randn(x.shape, generator=g, dtype=x.dtype, device=x.device) * sigma / 255.0
    if plane is not None:
        # the reference's noise * (1 - gray) + plane * gray, which for gray in {0, 1} selects exactly
        noise = torch.where(torch.tensor(gray, device=x.device).view(b, 1, 1, 1), plane, noise)
    return noise


def _shot_noise(img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Poisson noise of an image on 8-bit levels with 2^ceil(log2(distinct levels)) photon levels."""
    b = img.shape[0]
    levels = torch.clamp((img * 255.0).round(), 0, 255)
    quantised = levels / 255.0
    # the number of distinct levels per sample (the reference's torch.unique), all samples at once
    bins = levels.reshape(b, -1).long() + 256 * torch.arange(b, device=img.device).unsqueeze(1)
    distinct = (torch.bincount(bins.reshape(-1), minlength=256 * b).view(b, 256) > 0).sum(dim=1)
    vals = torch.exp2(torch.ceil(torch.log2(distinct.to(torch.float64)))).to(img.dtype).view(b, 1, 1, 1)
    return torch.poisson(quantised * vals, generator=g) / vals - quantised


def _poisson_noise(x: torch.Tensor, scale: torch.Tensor, gray: Sequence[bool], g: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    gray_noise = None
    if any(gray):
        r, gr, bl = x.unbind(dim=1)
        luma = (_GRAY_WEIGHTS[0] * r + _GRAY_WEIGHTS[1] * gr + _GRAY_WEIGHTS[2] * bl).unsqueeze(1)
        gray_noise = _shot_noise(luma, g)
    noise = _shot_noise(x, g)
    if gray_noise is not None:
        noise = torch.where(torch.tensor(gray, device=x.device).view(b, 1, 1, 1), gray_noise, noise)
    return noise * scale


def add_noise(x: torch.Tensor, draw: BatchDraw) -> torch.Tensor:
    """Step 3 alone: the batch's Gaussian or Poisson noise added to ``x`` and clamped to [0, 1].

    The generator is seeded with ``draw.noise_seed`` on ``x``'s device; on the CPU it draws what
    torch's global generator draws after ``torch.manual_seed(draw.noise_seed)``."""
    g = _generator(draw.noise_seed, x.device)
    if draw.noise_type == "gaussian":
        noise = _gaussian_noise(x, _per_sample(draw.noise_sigma, x), draw.gray_noise, g)
    else:
        noise = _poisson_noise(x, _per_sample(draw.poisson_scale, x), draw.gray_noise, g)
    return torch.clamp(x + noise, 0, 1)


def synthesize(gt: torch.Tensor, draw: BatchDraw, scale: int) -> torch.Tensor:
    """The LQ batch (B, 3, H // scale, W // scale), values on 8-bit levels k / 255.

    ``gt``: (B, 3, H, W) float in [0, 1] (the full, uncropped GT patches), on any device; the
    draw's kernels and noise follow it there. Deterministic for a given draw and device.
    """
    if gt.dim() != 4 or gt.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) batch, got {tuple(gt.shape)}")
    if gt.shape[0] != draw.batch_size:
        raise ValueError(f"{gt.shape[0]} images but a draw for {draw.batch_size}")
    h, w = gt.shape[-2:]
    out = _blur(gt, draw.kernels.to(device=gt.device, dtype=gt.dtype))
    out = _resize(out, draw.resize_mode, scale_factor=draw.resize_scale)
    out = add_noise(out, draw)
    quality = torch.tensor(draw.jpeg_quality, dtype=gt.dtype, device=gt.device)
    out = jpeg(torch.clamp(out, 0, 1), quality)
    out = _resize(out, draw.resize_mode, size=(h // scale, w // scale))
    return torch.clamp((out * 255.0).round(), 0, 255) / 255.0


def paired_crop(gts: torch.Tensor | Sequence[torch.Tensor], lq: torch.Tensor, gt_size: int, scale: int, rng: np.random.Generator):
    """One random crop position for the whole batch: ``(gts cropped, lq cropped, (top, left))``.

    ``gts`` is a tensor or a sequence of tensors (returned as a list) with the GT size in the
    last two dims; ``lq`` is cropped to ``gt_size // scale`` at LQ position (top, left), the GTs
    to ``gt_size`` at (top * scale, left * scale)."""
    single = isinstance(gts, torch.Tensor)
    gt_list = [gts] if single else list(gts)
    h_lq, w_lq = lq.shape[-2:]
    h_gt, w_gt = gt_list[0].shape[-2:]
    lq_size = gt_size // scale
    if h_gt != h_lq * scale or w_gt != w_lq * scale:
        raise ValueError(f"GT ({h_gt}, {w_gt}) is not {scale} x LQ ({h_lq}, {w_lq})")
    if h_lq < lq_size or w_lq < lq_size:
        raise ValueError(f"LQ ({h_lq}, {w_lq}) is smaller than the patch ({lq_size}, {lq_size})")
    if any(g.shape[-2:] != (h_gt, w_gt) for g in gt_list):
        raise ValueError("all GT tensors must have the same size")
    top = int(rng.integers(0, h_lq - lq_size + 1))
    left = int(rng.integers(0, w_lq - lq_size + 1))
    lq_out = lq[..., top : top + lq_size, left : left + lq_size]
    t, l = top * scale, left * scale
    cropped = [g[..., t : t + gt_size, l : l + gt_size] for g in gt_list]
    return (cropped[0] if single else cropped), lq_out, (top, left)
