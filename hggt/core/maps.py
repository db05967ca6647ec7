"""Residual variation and indication maps (paper Sec. 4, supplement Sec. 4, SPEC section 6).

For the original O, a positive P and a negative N (H x W x 3 in [0, 1]) with effective vote
counts n_P and n_N:
    R_N = sum_c |O - N|,   R_P = sum_c |O - P|
    V(R) = unbiased variance of R over the k x k window centred on each pixel (reflect padding)
    M_neg = (n_N / 3) * V(R_N) ** (3/4),   M_pos = (n_P / 3) * V(R_P) ** (3/4)
    M_ind = M_neg where M_neg > M_pos, else 0 (a tie goes to the positive)
Without a positive the original stands in for P, so M_pos = 0 and M_ind = M_neg.

Every step is float32 torch arithmetic in the authors' order (``get_overall_map`` in their
``basicsr/losses/loss_util.py``): the channel sum of |O - N|; the variance of the unfolded windows
(``Tensor.var``: one Welford pass per window, rounded to float32); ``** 0.75`` on float32, a
vectorised pow whose last bit depends on where an element falls in the kernel's blocks, hence one
(1, 1, H, W) sample at a time, as their training loop does; times the float32 weight n / 3. So M_neg
and M_pos are bit for bit theirs on the same device, and where the two round to the same float32
the pixel is a tie, as in their code. hggt's earlier float64 sliding box sums (14x faster on the
CPU) put 0.17% of the pixels of photo tests on the other side of ``M_neg > M_pos``: mostly windows
without any residual, given ~1e-14 of their neighbours' rounding, the rest float32 ties split.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

POWER = 0.75


def _residual(ori: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """sum_c |ori - other| of (1, 3, H, W) float32 images: (1, 1, H, W)."""
    return (ori - other).abs().sum(1, keepdim=True)


def local_variance_torch(r: torch.Tensor, ksize: int = 3) -> torch.Tensor:
    """Unbiased variance of each k x k window of a (B, 1, H, W) float32 map (reflect-101 padding)."""
    p = ksize // 2
    windows = F.pad(r, (p, p, p, p), mode="reflect").unfold(2, ksize, 1).unfold(3, ksize, 1)
    return windows.var(dim=(-2, -1), correction=1)


def _weighted_variation(r: torch.Tensor, votes: float, ksize: int) -> torch.Tensor:
    # the float weight meets the float32 map as theirs does: rounded to float32, product in float32
    return (votes / 3) * local_variance_torch(r, ksize) ** POWER


def _sample_maps(
    ori: torch.Tensor, pos: torch.Tensor | None, neg: torch.Tensor, n_pos: float, n_neg: float, ksize: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(M_pos, M_neg, M_ind) of one sample: (1, 3, H, W) float32 images, ``pos`` None without a positive."""
    ori, neg = ori.float().contiguous(), neg.float().contiguous()
    m_neg = _weighted_variation(_residual(ori, neg), n_neg, ksize)
    if pos is None:
        return torch.zeros_like(m_neg), m_neg, m_neg.clone()
    m_pos = _weighted_variation(_residual(ori, pos.float().contiguous()), n_pos, ksize)
    return m_pos, m_neg, torch.where(m_pos >= m_neg, torch.zeros_like(m_neg), m_neg)


def indication_map(
    ori: np.ndarray, pos: np.ndarray | None, neg: np.ndarray, n_pos: int, n_neg: int, ksize: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M_pos, M_neg, M_ind), H x W float32, of H x W x 3 images in [0, 1] (taken as float32)."""
    t = lambda a: torch.from_numpy(np.asarray(a, np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    with torch.no_grad():
        maps = _sample_maps(t(ori), None if pos is None else t(pos), t(neg), n_pos, n_neg, ksize)
    return tuple(m[0, 0].numpy() for m in maps)


def indication_maps_torch(
    ori: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, n_pos: torch.Tensor, n_neg: torch.Tensor,
    has_pos: torch.Tensor, ksize: int = 3,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Maps of (B, 3, H, W) images on their device; ``has_pos`` (B,) marks samples with a real
    positive (elsewhere the original stands in). Returns (M_pos, M_neg, M_ind), each (B, 1, H, W)
    float32. One sample at a time, as the authors' training loop does (see the module docstring)."""
    maps = [
        _sample_maps(ori[i:i + 1], pos[i:i + 1] if real else None, neg[i:i + 1], float(np_), float(nn_), ksize)
        for i, (np_, nn_, real) in enumerate(zip(n_pos.tolist(), n_neg.tolist(), has_pos.bool().tolist()))
    ]
    return tuple(torch.cat(parts) for parts in zip(*maps))
