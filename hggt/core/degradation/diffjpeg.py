"""Batched JPEG round trip in torch: the "DiffJPEG" variant the reference trains with.

The authors' Real-ISR models compress the degraded batch with BasicSR's ``DiffJPEG`` (a port of
mlomnitz/DiffJPEG) instead of a real codec: no entropy coding, no integer IDCT, float maths on the
device, one float quality per sample. Its output is not libjpeg's (OpenCV, nvJPEG), so the
``paper`` preset uses this algorithm, written here from its description:

1. Pad the bottom/right edge with zeros to multiples of 16 (the 4:2:0 chroma planes then split
   into whole 8x8 blocks); the output is cropped back at the end.
2. RGB in [0, 1] -> 0-255 -> YCbCr (JFIF full range, chroma offset 128).
3. Chroma subsampling: the mean of each 2x2 block of Cb and Cr.
4. Each plane in 8x8 blocks, level-shifted by -128, orthonormal-scaled 2-D DCT-II.
5. Divide by the quantisation table scaled by the libjpeg quality factor
   (``(200 - 2q) / 100`` for q >= 50, ``50 / q`` below), computed for a FLOAT quality per sample
   and not rounded or clipped to integers as libjpeg would; round (or, differentiably,
   ``round(x) + (x - round(x))**3``); multiply back.
6. Inverse DCT, +128, nearest-neighbour chroma upsampling, YCbCr -> RGB, clamp to 0-255, / 255.

Conventions taken from the reference (``PosNegGTSR/basicsr/utils/diffjpeg.py``; a textbook JPEG
would do some of them differently; the ``paper`` preset must compute what the reference computes):

- the Annex K tables are applied transposed (``diffjpeg.py:14-23``, ``y_table = ....T``): entry
  [u, v] quantises vertical frequency v and horizontal frequency u;
- quality -> factor (``diffjpeg.py:32-45``) with no rounding to integer table entries; a tensor of
  qualities gives the factor in its own dtype (float32), a Python number in float64
  (``diffjpeg.py:474-478``); unlike the reference, the caller's quality tensor is not overwritten;
- zero padding of the bottom/right edges to multiples of 16, cropped after decoding
  (``diffjpeg.py:479-490``), so edge blocks of an unaligned image mix image and black;
- JFIF colour matrices and offsets (``diffjpeg.py:55-57, 385-386``), chroma subsampling by 2x2
  average pooling (``:91-92``), the DCT basis ``cos((2x+1)u pi/16) cos((2y+1)v pi/16)`` with
  weights ``alpha(u) alpha(v) / 4`` and the level shift of 128 (``:121-145, 297-321``),
  quantisation as a division by the scaled table (``:173, 203, 268, 293``), chroma upsampling by
  pixel repetition (``:366-372``), clamp to [0, 255] (``:442``), hard ``torch.round`` when not
  differentiable and ``round(x) + (x - round(x))**3`` when differentiable (``:26-29, 459-462``).

The arithmetic follows the same float32 operation order (colour conversion as a 3x3 matrix
product on channel-last pixels, the DCT as one 64x64 matrix product per plane, the quantiser as
a division by the scaled table), so both implementations round the same coefficients: on the CPU
they agree bit for bit, outputs and gradients (``tests/conformance/test_diffjpeg.py``).

Public API::

    jpeg(x, quality, differentiable=False) -> Tensor
        x: (B, 3, H, W) RGB in [0, 1] on any device; quality: a number for the whole batch or a
        (B,) tensor/sequence of float qualities in (0, 100]. Returns (B, 3, H, W) in [0, 1].
    quality_factor(quality) -> float | Tensor
        the libjpeg quality -> table-scale factor, as a float or elementwise on a tensor.
    soft_round(x) -> Tensor
        the differentiable rounding used when ``differentiable=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

# ITU-T T.81 Annex K, Tables K.1 and K.2, row = vertical frequency.
_LUMA_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
# Only the low 4x4 frequencies of the chroma table differ from 99.
_CHROMA_TABLE_LOW = ((17, 18, 24, 47), (18, 21, 26, 66), (24, 26, 56, 99), (47, 66, 99, 99))

# JFIF full-range YCbCr, rows produce Y, Cb, Cr from R, G, B (and back).
_RGB_TO_YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
_YCBCR_TO_RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))

_BLOCK = 8
_ALIGN = 16  # a luma MCU of 4:2:0 chroma subsampling


@dataclass(frozen=True)
class _Constants:
    rgb_to_ycbcr: torch.Tensor  # (3, 3), used as pixels @ it
    ycbcr_to_rgb: torch.Tensor  # (3, 3)
    ycbcr_offset: torch.Tensor  # (3,)
    dct: torch.Tensor  # (64, 64): spatial (row-major 8x8) -> frequency
    idct: torch.Tensor  # (64, 64): frequency -> spatial
    dct_scale: torch.Tensor  # (64,): the orthonormal weights alpha(u) alpha(v) / 4
    idct_alpha: torch.Tensor  # (64,): alpha(u) alpha(v); the 1/4 is applied after the sum
    luma_table: torch.Tensor  # (64,)
    chroma_table: torch.Tensor  # (64,)


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """The luma and chroma tables as the reference applies them: transposed."""
    luma = np.array(_LUMA_TABLE, np.float64).T
    chroma = np.full((8, 8), 99.0)
    chroma[:4, :4] = np.array(_CHROMA_TABLE_LOW, np.float64).T
    return luma, chroma


@lru_cache(maxsize=16)
def _constants(device: torch.device, dtype: torch.dtype) -> _Constants:
    # Built in float64 and rounded once to the working dtype, so every basis entry is the
    # correctly rounded product of two 1-D cosines, as in the reference.
    pos = np.arange(_BLOCK)
    cos = np.cos(np.outer(2 * pos + 1, pos) * np.pi / 16)  # [spatial, frequency]
    basis = np.einsum("xu,yv->xyuv", cos, cos).reshape(64, 64)
    alpha = np.array([1.0 / np.sqrt(2)] + [1.0] * 7)
    weights = np.outer(alpha, alpha).reshape(64)
    luma, chroma = _tables()

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, np.float64)).to(device=device, dtype=dtype)

    def row_matrix(rows) -> torch.Tensor:
        # pixels (N, 3) @ M^T applies the row-matrix M to every pixel
        return torch.tensor(rows, dtype=dtype, device=device).T

    return _Constants(
        rgb_to_ycbcr=row_matrix(_RGB_TO_YCBCR),
        ycbcr_to_rgb=row_matrix(_YCBCR_TO_RGB),
        ycbcr_offset=t(np.array([0.0, 128.0, 128.0])),
        dct=t(basis),
        idct=t(basis.T),
        dct_scale=t(weights * 0.25),
        idct_alpha=t(weights),
        luma_table=t(luma.reshape(64)),
        chroma_table=t(chroma.reshape(64)),
    )


def quality_factor(quality: float | torch.Tensor) -> float | torch.Tensor:
    """libjpeg's quality scaling (jcparam.c ``jpeg_quality_scaling``) without its integer rounding."""
    if isinstance(quality, torch.Tensor):
        return torch.where(quality < 50, 5000.0 / quality, 200.0 - quality * 2) / 100.0
    quality = float(quality)
    return (5000.0 / quality if quality < 50 else 200.0 - quality * 2) / 100.0


def soft_round(x: torch.Tensor) -> torch.Tensor:
    """Rounding whose gradient is 3 (x - round(x))^2 instead of 0 (Shin & Song, 2017)."""
    r = torch.round(x)
    return r + (x - r) ** 3


def _to_blocks(plane: torch.Tensor) -> torch.Tensor:
    """(B, H, W) -> (B, H/8 * W/8, 64), blocks in raster order, pixels row-major."""
    b, h, w = plane.shape
    return plane.reshape(b, h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).transpose(2, 3).reshape(b, -1, 64)


def _from_blocks(blocks: torch.Tensor, h: int, w: int) -> torch.Tensor:
    b = blocks.shape[0]
    return blocks.reshape(b, h // _BLOCK, w // _BLOCK, _BLOCK, _BLOCK).transpose(2, 3).reshape(b, h, w)


def _code_plane(plane: torch.Tensor, table: torch.Tensor, c: _Constants, rounding) -> torch.Tensor:
    """Lossy part of one plane: DCT, quantise with the (B|1, 1, 64) ``table``, dequantise, IDCT."""
    h, w = plane.shape[-2:]
    coeffs = (_to_blocks(plane) - 128) @ c.dct * c.dct_scale
    levels = rounding(coeffs / table)
    spatial = 0.25 * ((levels * table * c.idct_alpha) @ c.idct) + 128
    return _from_blocks(spatial, h, w)


def _scaled_tables(quality, batch: int, c: _Constants) -> tuple[torch.Tensor, torch.Tensor]:
    """(luma, chroma) quantisation tables broadcastable against (B, blocks, 64)."""
    if isinstance(quality, (int, float)):
        factor = quality_factor(quality)
        return c.luma_table * factor, c.chroma_table * factor
    q = torch.as_tensor(quality, dtype=c.luma_table.dtype, device=c.luma_table.device).reshape(-1)
    if q.numel() != batch:
        raise ValueError(f"{q.numel()} qualities for a batch of {batch}")
    factor = quality_factor(q).view(batch, 1, 1)
    return c.luma_table * factor, c.chroma_table * factor


def jpeg(x: torch.Tensor, quality: float | torch.Tensor | Sequence[float], differentiable: bool = False) -> torch.Tensor:
    """JPEG-compress and decode a (B, 3, H, W) RGB batch in [0, 1].

    ``quality``: one number for the batch, or B float qualities (a tensor or sequence; never
    modified). ``differentiable=True`` replaces the hard rounding of the quantised coefficients by
    :func:`soft_round`, so gradients reach ``x``; ``False`` is what the reference's training uses.
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) batch, got {tuple(x.shape)}")
    b, _, h, w = x.shape
    c = _constants(x.device, x.dtype)
    rounding = soft_round if differentiable else torch.round
    luma_table, chroma_table = _scaled_tables(quality, b, c)

    x = F.pad(x, (0, -w % _ALIGN, 0, -h % _ALIGN), mode="constant", value=0)
    ycc = (x * 255).permute(0, 2, 3, 1) @ c.rgb_to_ycbcr + c.ycbcr_offset  # (B, Hp, Wp, 3)
    chroma = F.avg_pool2d(ycc[..., 1:].permute(0, 3, 1, 2).contiguous(), kernel_size=2, stride=2)  # (B, 2, Hp/2, Wp/2)

    y = _code_plane(ycc[..., 0], luma_table, c, rounding)
    cb = _code_plane(chroma[:, 0], chroma_table, c, rounding)
    cr = _code_plane(chroma[:, 1], chroma_table, c, rounding)

    def upsample(plane: torch.Tensor) -> torch.Tensor:
        return plane.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)

    decoded = torch.stack([y, upsample(cb), upsample(cr)], dim=-1)
    rgb = (decoded - c.ycbcr_offset) @ c.ycbcr_to_rgb
    rgb = rgb.clamp(0, 255).permute(0, 3, 1, 2) / 255
    return rgb[:, :, :h, :w]
