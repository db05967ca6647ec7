"""Blur kernels on the integer grid centred on 0, each normalised to sum 1."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from hggt.core.degradation.settings import DegradationRecord


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    half = size // 2
    ax = np.arange(-half, half + 1, dtype=np.float64)
    return np.meshgrid(ax, ax, indexing="xy")  # x varies along columns, y along rows


def covariance(sigma_x: float, sigma_y: float, rotation: float) -> np.ndarray:
    """R diag(sx^2, sy^2) R^T with R the rotation by ``rotation`` radians."""
    c, s = math.cos(rotation), math.sin(rotation)
    rot = np.array([[c, -s], [s, c]])
    return rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, rotation: float = 0.0) -> np.ndarray:
    x, y = _grid(size)
    inv = np.linalg.inv(covariance(sigma_x, sigma_y, rotation))
    q = inv[0, 0] * x * x + (inv[0, 1] + inv[1, 0]) * x * y + inv[1, 1] * y * y
    k = np.exp(-0.5 * q)
    return k / k.sum()


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    """Circular low-pass (2-D jinc): cutoff * J1(cutoff r) / (2 pi r), with its limit cutoff^2 / (4 pi) at r = 0."""
    x, y = _grid(size)
    r = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    k[r == 0] = cutoff**2 / (4 * np.pi)
    return k / k.sum()


def kernel_for(record: DegradationRecord) -> np.ndarray:
    if record.kernel_type == "sinc":
        return sinc_kernel(record.kernel_size, record.sinc_cutoff)
    return gaussian_kernel(record.kernel_size, record.sigma_x, record.sigma_y, record.rotation)
