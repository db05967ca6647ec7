"""Indication maps for 512x512 sets per second on the CPU: hggt's path (float32 in the authors'
order, bit for bit their get_overall_map) against the direct NumPy approach (unfold the k x k
windows in float64, then take their variance), same inputs, interleaved rounds
(benchmarks/timing.py); plus the batched torch path (CPU here, CUDA when present).

The target is parity: exactness must not cost more than the plain way of computing the formula.
(hggt's earlier float64 box filters ran ~14x the baseline but differed from the authors' maps on
0.17% of photo pixels; see hggt/core/maps.py.)"""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from benchmarks import timing
from hggt.core.maps import indication_map, indication_maps_torch

TARGET = 1.0


def direct(ori, pos, neg, n_pos, n_neg, k=3):
    def var_map(r):
        windows = sliding_window_view(np.pad(r, k // 2, mode="reflect"), (k, k))
        return windows.reshape(*r.shape, k * k).var(axis=-1, ddof=1)

    m_neg = n_neg / 3 * var_map(np.abs(ori - neg).sum(axis=2)) ** 0.75
    m_pos = n_pos / 3 * var_map(np.abs(ori - pos).sum(axis=2)) ** 0.75
    return m_pos, m_neg, np.where(m_neg > m_pos, m_neg, 0)


def run() -> dict:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ori = rng.random((512, 512, 3)).astype(np.float32)
    pos = np.clip(ori + 0.03 * rng.standard_normal(ori.shape, dtype=np.float32), 0, 1)
    neg = np.clip(ori + 0.1 * rng.standard_normal(ori.shape, dtype=np.float32), 0, 1)
    ours_maps, ref_maps = indication_map(ori, pos, neg, 3, 2), direct(ori, pos, neg, 3, 2)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(ours_maps, ref_maps))
    stats = timing.interleaved({"hggt": lambda: indication_map(ori, pos, neg, 3, 2), "unfold": lambda: direct(ori, pos, neg, 3, 2)}, 1)
    t = lambda x: torch.from_numpy(np.repeat(x[None], 8, axis=0)).permute(0, 3, 1, 2)  # noqa: E731
    args = (t(ori), t(pos), t(neg), torch.full((8,), 3), torch.full((8,), 2), torch.ones(8, dtype=torch.bool))
    batched = timing.interleaved({"torch": lambda: indication_maps_torch(*args)}, 8, rounds=3)["torch"]
    ratio = timing.ratio(stats, "hggt", "unfold")
    print(f"maps: one (positive, negative) pair of 512x512 images per set, one CPU thread, {len(stats['hggt']['rounds'])} interleaved rounds")
    print(timing.line("hggt (float32, theirs)", stats["hggt"], "sets/s", 22))
    print(timing.line("NumPy unfold, float64", stats["unfold"], "sets/s", 22))
    print(f"  speed-up              : {timing.verdict(ratio, TARGET)}; largest difference {worst:.1e}")
    print(timing.line("torch, batch 8, CPU", batched, "sets/s", 22))
    result = {"unit": "sets/s", "hggt": stats["hggt"], "baseline": stats["unfold"], "ratio": ratio, "target": TARGET,
              "target_met": ratio >= TARGET, "max_abs_difference": worst, "torch_cpu": batched}
    if torch.cuda.is_available():
        cuda = [a.cuda() for a in args]
        result["torch_cuda"] = timing.interleaved({"torch": lambda: (indication_maps_torch(*cuda), torch.cuda.synchronize())}, 8, rounds=3)["torch"]
        print(timing.line("torch, batch 8, CUDA", result["torch_cuda"], "sets/s", 22))
    return result
