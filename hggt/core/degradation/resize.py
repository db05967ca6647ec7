"""Resize conventions shared by the CPU and torch paths.

Sizes: round(length * scale), at least 1. Bilinear and bicubic use half-pixel centres without
antialiasing (OpenCV's and PyTorch's convention). "area" is exact area-weighted resampling in
both directions. OpenCV's INTER_AREA computes that when shrinking; when enlarging it misplaces a
tap where a footprint ends exactly on a pixel boundary (floating-point floor), and PyTorch's
"area" is adaptive average pooling, which differs for fractional ratios, so both paths use the
exact integer weights below for enlarging, and the torch path for shrinking too.
"""

from __future__ import annotations

import numpy as np


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def area_weights(in_len: int, out_len: int) -> np.ndarray:
    """(out_len, in_len) matrix: output pixel i averages the source interval [i s, (i+1) s),
    s = in/out, each source pixel weighted by its overlap. Computed in integers (units of 1/out),
    so footprints that end exactly on pixel boundaries are exact."""
    i = np.arange(out_len, dtype=np.int64)[:, None]
    j = np.arange(in_len, dtype=np.int64)[None, :]
    overlap = np.minimum((i + 1) * in_len, (j + 1) * out_len) - np.maximum(i * in_len, j * out_len)
    return np.clip(overlap, 0, None) / in_len


def area_upscale_taps(in_len: int, out_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Enlarging (out >= in): each output pixel overlaps at most two source pixels.
    Returns (first index, second index clamped to the image, weight of the second)."""
    i = np.arange(out_len, dtype=np.int64)
    first = (i * in_len) // out_len
    second_part = np.clip((i + 1) * in_len - (first + 1) * out_len, 0, None)
    return first, np.minimum(first + 1, in_len - 1), second_part / in_len
