"""Indication maps for 512x512 sets per second on the CPU: hggt's box-filter path against the
direct approach (unfold the k x k windows, then take their variance), same inputs, same run;
plus the batched torch path (CPU here, CUDA when present)."""

from __future__ import annotations

import time

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from hggt_core.maps import indication_map, indication_maps_torch

TARGET = 5.0


def direct(ori, pos, neg, n_pos, n_neg, k=3):
    def var_map(r):
        windows = sliding_window_view(np.pad(r, k // 2, mode="reflect"), (k, k))
        return windows.reshape(*r.shape, k * k).var(axis=-1, ddof=1)

    m_neg = n_neg / 3 * var_map(np.abs(ori - neg).sum(axis=2)) ** 0.75
    m_pos = n_pos / 3 * var_map(np.abs(ori - pos).sum(axis=2)) ** 0.75
    return m_pos, m_neg, np.where(m_neg > m_pos, m_neg, 0)


def _rate(fn, min_seconds=2.0) -> float:
    fn()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        runs += 1
    return runs / (time.perf_counter() - start)


def run() -> dict:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ori = rng.random((512, 512, 3)).astype(np.float32)
    pos = np.clip(ori + 0.03 * rng.standard_normal(ori.shape, dtype=np.float32), 0, 1)
    neg = np.clip(ori + 0.1 * rng.standard_normal(ori.shape, dtype=np.float32), 0, 1)
    ours_maps, ref_maps = indication_map(ori, pos, neg, 3, 2), direct(ori, pos, neg, 3, 2)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(ours_maps, ref_maps))
    ours = _rate(lambda: indication_map(ori, pos, neg, 3, 2))
    base = _rate(lambda: direct(ori, pos, neg, 3, 2))
    t = lambda x: torch.from_numpy(np.repeat(x[None], 8, axis=0)).permute(0, 3, 1, 2)  # noqa: E731
    args = (t(ori), t(pos), t(neg), torch.full((8,), 3), torch.full((8,), 2), torch.ones(8, dtype=torch.bool))
    batched = 8 * _rate(lambda: indication_maps_torch(*args))
    ratio = ours / base
    print("maps: one (positive, negative) pair of 512x512 images per set, one CPU thread")
    print(f"  hggt (box filters)      : {ours:7.1f} sets/s")
    print(f"  unfold + variance       : {base:7.1f} sets/s")
    print(f"  speed-up                : {ratio:7.2f}x (target >= {TARGET}x); largest difference {worst:.1e}")
    print(f"  torch, batch 8, CPU     : {batched:7.1f} sets/s")
    result = {"hggt_per_s": ours, "baseline_per_s": base, "ratio": ratio, "target": TARGET, "target_met": ratio >= TARGET,
              "max_abs_difference": worst, "torch_cpu_per_s": batched}
    if torch.cuda.is_available():
        cuda = [a.cuda() for a in args]
        result["torch_cuda_per_s"] = 8 * _rate(lambda: (indication_maps_torch(*cuda), torch.cuda.synchronize()))
        print(f"  torch, batch 8, CUDA    : {result['torch_cuda_per_s']:7.1f} sets/s")
    return result
