"""Candidate crops and their texture statistics (paper Sec. 3.3, SPEC section 4).

Grid: per axis a random origin offset in [0, k] (k from the axis length), then points every
``step`` pixels; each 2-D grid point moves by a random integer in [-jitter, jitter] on each axis,
clamped at 0; crops that do not fit inside the image are dropped.

Texture test on the 8-bit grayscale crop: population standard deviation >= 30 and variance of
the 8-bit Laplacian (OpenCV's 3x3 aperture, saturated to [0, 255], reflect-101 borders of the
crop) >= 30.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from hggt.core.config import PatchConfig
from hggt.core.images import to_gray
from hggt.core.seeding import item_rng

STAGE = "patches"


def max_offset(length: int, cfg: PatchConfig) -> int:
    k = cfg.offset_rules[0].max_offset
    for rule in cfg.offset_rules:
        if length >= rule.min_length:
            k = rule.max_offset
    return k


def grid_positions(height: int, width: int, cfg: PatchConfig, rng: np.random.Generator) -> np.ndarray:
    """Top-left (row, col) of every crop that fits, shape (N, 2), in row-major grid order."""
    crop, step, jit = cfg.crop_size, cfg.step, cfg.jitter
    oy = int(rng.integers(0, max_offset(height, cfg) + 1))
    ox = int(rng.integers(0, max_offset(width, cfg) + 1))
    # Points beyond length - crop + jitter can never fit, whatever their jitter.
    ys = np.arange(oy, max(height - crop + jit, -1) + 1, step)
    xs = np.arange(ox, max(width - crop + jit, -1) + 1, step)
    jitter = rng.integers(-jit, jit + 1, size=(len(ys), len(xs), 2))
    rows = np.maximum(ys[:, None] + jitter[..., 0], 0)
    cols = np.maximum(xs[None, :] + jitter[..., 1], 0)
    fits = (rows + crop <= height) & (cols + crop <= width)
    return np.stack([rows[fits], cols[fits]], axis=1).astype(np.int64)


@dataclass(frozen=True)
class Candidate:
    row: int
    col: int
    gray_std: float
    lap_var: float
    texture_ok: bool


def _lap(center: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    return np.clip(a + b + c + d - 4 * center, 0, 255)


def _frame_corrections(gray: np.ndarray, lap: np.ndarray, positions: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per crop, (delta sum, delta sum of squares) that turn the whole-image Laplacian on the
    crop's 1-px frame into the crop's own Laplacian, whose reflect-101 border differs from the
    image's neighbours there. Vectorised over crops: 4n pixels each instead of n*n."""
    rows, cols = positions[:, :1], positions[:, 1:]
    along = np.arange(n)
    inner = along[1 : n - 1]
    # reflect-101 neighbours along a frame line: index -1 -> 1, index n -> n - 2
    prev = np.abs(along - 1)
    nxt = (n - 1) - np.abs((n - 1) - (along + 1))
    def take(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return gray[r, c].astype(np.int32)

    own, whole = [], []
    for edge, neighbour in ((0, 1), (n - 1, n - 2)):
        line, beside = take(rows + edge, cols + along), take(rows + neighbour, cols + along)
        own.append(_lap(line, line[:, prev], line[:, nxt], beside, beside))
        whole.append(lap[rows + edge, cols + along])
        col, beside = take(rows + along, cols + edge), take(rows + inner, cols + neighbour)
        own.append(_lap(col[:, inner], col[:, inner - 1], col[:, inner + 1], beside, beside))
        whole.append(lap[rows + inner, cols + edge])
    own_all = np.concatenate(own, axis=1).astype(np.int64)
    whole_all = np.concatenate(whole, axis=1).astype(np.int64)
    d1 = own_all.sum(axis=1) - whole_all.sum(axis=1)
    d2 = (own_all * own_all).sum(axis=1) - (whole_all * whole_all).sum(axis=1)
    return d1, d2


def _sums(view: np.ndarray) -> tuple[int, int]:
    # OpenCV's SIMD reductions return doubles within 1e-15 relative of the integer totals; rounding
    # recovers them exactly while totals stay below 2**49 (any crop under 90,000 pixels a side).
    return round(cv2.sumElems(view)[0]), round(cv2.norm(view, cv2.NORM_L2SQR))


def texture_stats(gray: np.ndarray, positions: np.ndarray, crop: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Exact integer (sum, sum of squares) of the gray values and of the crop Laplacian per crop.

    The image is filtered once, crops are reduced as views without copies, and only each crop's
    1-px border frame is recomputed.
    """
    if len(positions) == 0:
        return [], []
    lap = cv2.Laplacian(gray, cv2.CV_8U)
    d1, d2 = _frame_corrections(gray, lap, positions, crop)
    gray_out, lap_out = [], []
    for i, (r, c) in enumerate(positions.tolist()):
        gray_out.append(_sums(gray[r : r + crop, c : c + crop]))
        l1, l2 = _sums(lap[r : r + crop, c : c + crop])
        lap_out.append((l1 + int(d1[i]), l2 + int(d2[i])))
    return gray_out, lap_out


def _variance(s1: int, s2: int, n: int) -> Fraction:
    return Fraction(n * s2 - s1 * s1, n * n)


def crop_textures(rgb: np.ndarray, positions: np.ndarray, cfg: PatchConfig) -> list[tuple[float, float, bool]]:
    """(gray std, Laplacian variance, texture decision) of each crop at ``positions``. The decision
    is exact: it compares integer sums, not rounded floats."""
    gray_sums, lap_sums = texture_stats(to_gray(rgb), positions, cfg.crop_size)
    n = cfg.crop_size * cfg.crop_size
    std_min = Fraction(cfg.min_gray_std) ** 2
    lap_min = Fraction(cfg.min_laplacian_var)
    out = []
    for (g1, g2), (l1, l2) in zip(gray_sums, lap_sums):
        gvar, lvar = _variance(g1, g2, n), _variance(l1, l2, n)
        ok = (cfg.min_gray_std <= 0 or gvar >= std_min) and lvar >= lap_min
        out.append((float(gvar) ** 0.5, float(lvar), bool(ok)))
    return out


def candidates(rgb: np.ndarray, image_id: str, cfg: PatchConfig, seed: int) -> list[Candidate]:
    """All grid crops of one image with their texture statistics and texture decision."""
    positions = grid_positions(*rgb.shape[:2], cfg, item_rng(seed, STAGE, image_id))
    return [Candidate(r, c, *t) for (r, c), t in zip(positions.tolist(), crop_textures(rgb, positions, cfg))]


def patch_id(image_id: str, row: int, col: int) -> str:
    return f"{image_id}-{row}-{col}"


def crop(rgb: np.ndarray, row: int, col: int, size: int) -> np.ndarray:
    return rgb[row : row + size, col : col + size]
