"""Patch candidates per second on a 2040x1356 photo: hggt's texture-statistics path against a
straightforward per-crop implementation, timed in interleaved rounds (benchmarks/timing.py), on
one thread."""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks import timing
from hggt.core.config import PatchConfig
from hggt.core.images import to_gray
from hggt.core.patches import candidates, grid_positions
from hggt.core.sample_photos import sample_photo_paths
from hggt.core.seeding import item_rng

TARGET = 3.0


def _photo() -> np.ndarray:
    path = next(p for p in sample_photo_paths() if p.name == "retina.jpg")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(cv2.resize(bgr, (2040, 1356), interpolation=cv2.INTER_CUBIC), cv2.COLOR_BGR2RGB)


def per_crop_baseline(rgb: np.ndarray, positions: np.ndarray, size: int) -> list[tuple[float, float]]:
    """Grayscale conversion of each crop, then std and Laplacian variance per crop."""
    out = []
    for r, c in positions.tolist():
        gray = cv2.cvtColor(rgb[r : r + size, c : c + size], cv2.COLOR_RGB2GRAY)
        out.append((float(gray.std()), float(cv2.Laplacian(gray, cv2.CV_8U).var())))
    return out


def run() -> dict:
    cv2.setNumThreads(1)
    rgb, cfg = _photo(), PatchConfig()
    positions = grid_positions(*rgb.shape[:2], cfg, item_rng(0, "patches", "bench"))
    ours = candidates(rgb, "bench", cfg, seed=0)
    base = per_crop_baseline(rgb, positions, cfg.crop_size)
    worst = max(max(abs(o.gray_std - b[0]), abs(o.lap_var - b[1])) for o, b in zip(ours, base))
    stats = timing.interleaved({
        "hggt": lambda: candidates(rgb, "bench", cfg, seed=0),
        "per_crop": lambda: per_crop_baseline(rgb, positions, cfg.crop_size),
    }, len(positions))
    ratio = timing.ratio(stats, "hggt", "per_crop")
    print(f"patches: {len(positions)} candidates per 2040x1356 photo (grayscale: {to_gray(rgb).shape}), "
          f"{len(stats['hggt']['rounds'])} interleaved rounds")
    print(timing.line("hggt texture statistics", stats["hggt"], "candidates/s"))
    print(timing.line("per-crop baseline", stats["per_crop"], "candidates/s"))
    print(f"  {'speed-up':<26}: {timing.verdict(ratio, TARGET)}; largest difference {worst:.2e}")
    return {
        "candidates_per_image": len(positions), "unit": "candidates/s", "hggt": stats["hggt"], "baseline": stats["per_crop"],
        "ratio": ratio, "target": TARGET, "target_met": ratio >= TARGET, "max_abs_difference": worst,
    }
