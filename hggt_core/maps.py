"""Residual variation and indication maps (paper Sec. 4, supplement Sec. 4, SPEC section 6).

For the original O, a positive P and a negative N (H x W x 3 in [0, 1]) with effective vote
counts n_P and n_N:
    R_N = sum_c |O - N|,   R_P = sum_c |O - P|
    V(R) = unbiased variance of R over the k x k window centred on each pixel (reflect padding)
    M_neg = (n_N / 3) * V(R_N) ** (3/4),   M_pos = (n_P / 3) * V(R_P) ** (3/4)
    M_ind = M_neg where M_neg > M_pos, else 0
Without a positive the original stands in for P, so M_pos = 0 and M_ind = M_neg.

The local variance comes from window sums of R and R^2 (box filters on the CPU, integral images
in torch), so it costs O(1) per pixel whatever k is; sums are taken in float64, where the
difference of the two does not cancel away the small variances that the 3/4 power magnifies.
On the CPU every pass is one OpenCV call (no numpy temporaries): R stays float32 (it is exact
there) and the box filters widen it to float64 as they sum, squares included.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

POWER = 0.75


_CHANNEL_SUM = np.ones((1, 3), np.float32)


def residual(ori: np.ndarray, other: np.ndarray) -> np.ndarray:
    """sum_c |ori - other| as float32 (OpenCV, 40x faster than numpy here)."""
    a, b = np.ascontiguousarray(ori, np.float32), np.ascontiguousarray(other, np.float32)
    return cv2.transform(cv2.absdiff(a, b), _CHANNEL_SUM)


def _window_excess(r: np.ndarray, ksize: int) -> np.ndarray:
    """(k^2 - 1) x the unbiased window variance, float64, clamped at 0 (reflect-101 padding)."""
    n = ksize * ksize
    s1 = cv2.boxFilter(r, cv2.CV_64F, (ksize, ksize), normalize=False, borderType=cv2.BORDER_REFLECT_101)
    s2 = cv2.sqrBoxFilter(r, cv2.CV_64F, (ksize, ksize), normalize=False, borderType=cv2.BORDER_REFLECT_101)
    return cv2.max(cv2.subtract(s2, cv2.multiply(s1, s1, scale=1.0 / n)), 0.0)


def local_variance(r: np.ndarray, ksize: int = 3) -> np.ndarray:
    """Unbiased variance of each k x k window (reflect-101 padding), float64."""
    return _window_excess(np.ascontiguousarray(r, np.float32), ksize) * (1.0 / (ksize * ksize - 1))


def _map(r: np.ndarray, weight: float, ksize: int) -> np.ndarray:
    """weight * V(r)^(3/4), float64: the 1/(k^2 - 1) of V folds into the weight."""
    return cv2.multiply(cv2.pow(_window_excess(r, ksize), POWER), weight * (ksize * ksize - 1) ** -POWER)


def indication_map(
    ori: np.ndarray, pos: np.ndarray | None, neg: np.ndarray, n_pos: int, n_neg: int, ksize: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M_pos, M_neg, M_ind), H x W float32."""
    m_neg = _map(residual(ori, neg), n_neg / 3.0, ksize)
    if pos is None:
        m_pos = np.zeros_like(m_neg)
    else:
        m_pos = _map(residual(ori, pos), n_pos / 3.0, ksize)
    keep = cv2.compare(m_neg, m_pos, cv2.CMP_GT)
    m_ind = np.zeros(m_neg.shape, np.float32)
    m_neg32 = m_neg.astype(np.float32)
    cv2.copyTo(m_neg32, keep, m_ind)
    return m_pos.astype(np.float32), m_neg32, m_ind


def _window_sums(x: torch.Tensor, ksize: int) -> torch.Tensor:
    """k x k window sums of a (B, 1, H, W) tensor through an integral image (reflect-101 padding)."""
    p = ksize // 2
    padded = F.pad(x, (p, p, p, p), mode="reflect")
    c = F.pad(padded.cumsum(2).cumsum(3), (1, 0, 1, 0))
    return c[..., ksize:, ksize:] - c[..., :-ksize, ksize:] - c[..., ksize:, :-ksize] + c[..., :-ksize, :-ksize]


def local_variance_torch(r: torch.Tensor, ksize: int = 3) -> torch.Tensor:
    n = ksize * ksize
    r = r.double()
    s1, s2 = _window_sums(r, ksize), _window_sums(r * r, ksize)
    return torch.clamp((s2 - s1 * s1 / n) / (n - 1), min=0.0)


def indication_maps_torch(
    ori: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, n_pos: torch.Tensor, n_neg: torch.Tensor,
    has_pos: torch.Tensor, ksize: int = 3,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched maps of (B, 3, H, W) images; ``has_pos`` (B,) marks samples with a real positive
    (elsewhere the original stands in). Returns (M_pos, M_neg, M_ind), each (B, 1, H, W) float32."""
    w_neg = (n_neg.double() / 3.0).view(-1, 1, 1, 1)
    w_pos = (n_pos.double() / 3.0 * has_pos.double()).view(-1, 1, 1, 1)
    r_neg = (ori.double() - neg.double()).abs().sum(1, keepdim=True)
    r_pos = (ori.double() - pos.double()).abs().sum(1, keepdim=True)
    m_neg = w_neg * local_variance_torch(r_neg, ksize) ** POWER
    m_pos = w_pos * local_variance_torch(r_pos, ksize) ** POWER
    m_ind = torch.where(m_neg > m_pos, m_neg, torch.zeros_like(m_neg))
    return m_pos.float(), m_neg.float(), m_ind.float()
