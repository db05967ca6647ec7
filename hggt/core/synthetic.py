"""Synthetic data for scale benchmarks: seeded procedural photos and labelled sets, so runs over
thousands of items need no downloads and no trained models."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from hggt.core.annotation.labels import LABELS, VERSIONS


def photo(seed: int, height: int = 768, width: int = 1024) -> np.ndarray:
    """A textured RGB photo: smooth colour fields, multi-scale grain, shapes and a flat sky."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.float32)
    for scale, weight in ((128, 90.0), (32, 45.0), (8, 25.0), (2, 12.0)):
        small = rng.standard_normal((max(height // scale, 2), max(width // scale, 2), 3)).astype(np.float32)
        img += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    img += 128.0
    canvas = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(8, 20))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            cv2.circle(canvas, center, int(rng.integers(10, 120)), color, -1, cv2.LINE_AA)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(canvas, center, end, color, int(rng.integers(1, 8)), cv2.LINE_AA)
    canvas[: height // 6] = canvas[: height // 6].mean(axis=(0, 1)).astype(np.uint8)  # a flat band: crops that fail the texture test
    return canvas


def labelled_set(seed: int, size: int = 512, versions: Sequence[str] = VERSIONS
                 ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, tuple[str, int]]]:
    """(original, its versions (the paper's four by default), {version: (effective label, votes)})
    with at least one negative: versions are sharpened, blurred, noisier or recoloured copies of
    the original, in turn."""
    rng = np.random.default_rng(seed)
    original = photo(seed, size, size)
    f = original.astype(np.float32)
    blurred = cv2.GaussianBlur(f, (0, 0), 1.2)
    makers = [
        lambda: f + 0.8 * (f - blurred),  # sharper
        lambda: blurred,  # softer
        lambda: f + rng.normal(0, 8, f.shape).astype(np.float32),  # noisier
        lambda: f * np.float32(1.05) - 4,  # a slight colour change
    ]
    images = {v: np.clip(makers[i % len(makers)](), 0, 255).astype(np.uint8) for i, v in enumerate(versions)}
    labels = {v: (str(LABELS[int(rng.integers(3))]), int(rng.integers(2, 4))) for v in versions}
    labels[versions[int(rng.integers(len(versions)))]] = ("Negative", int(rng.integers(2, 4)))
    return original, images, labels
