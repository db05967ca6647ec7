"""Synthetic test photos: seeded, textured, of any size, encoded in any format."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth regions, edges and fine grain, so texture statistics vary from crop to crop."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.float64)
    for scale, weight in ((64, 120.0), (16, 60.0), (4, 30.0), (1, 18.0)):
        small = rng.normal(size=(max(height // scale, 2), max(width // scale, 2), 3))
        img += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    flat = np.zeros((height, width), bool)
    flat[: height // 3, : width // 3] = True  # a flat region whose crops fail the texture test
    img[flat] = 0.0
    return np.clip(img + 128.0, 0, 255).astype(np.uint8)


def encode(rgb_or_img, fmt: str, **params) -> bytes:
    img = rgb_or_img if isinstance(rgb_or_img, Image.Image) else Image.fromarray(rgb_or_img)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def png16(array: np.ndarray) -> bytes:
    """16-bit PNG (H x W or H x W x 3 RGB uint16)."""
    bgr = array if array.ndim == 2 else array[..., ::-1]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr))
    assert ok
    return buf.tobytes()
