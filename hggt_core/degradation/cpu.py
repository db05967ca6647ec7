"""The CPU degradation path (numpy + OpenCV): one record applied to one RGB image.

Works in float32 on [0, 1]; every random draw comes from the record's seed, so applying the same
record to the same image twice gives identical bytes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hggt_core.degradation.kernels import kernel_for
from hggt_core.degradation.resize import area_upscale_taps, scaled_size
from hggt_core.degradation.settings import DegradationRecord

CV_MODES = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
# ITU-R BT.601 luma, as OpenCV's RGB2GRAY
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def to_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) * np.float32(1 / 255)


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def resize(img: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    if img.shape[:2] == size:
        return img
    if mode == "area" and size[0] >= img.shape[0] and size[1] >= img.shape[1]:
        return _area_enlarge(img, size)
    return cv2.resize(img, (size[1], size[0]), interpolation=CV_MODES[mode])


def _area_enlarge(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    a, b, w = area_upscale_taps(img.shape[0], size[0])
    w = w.astype(np.float32)[:, None, None]
    rows = img[a] * (1 - w) + img[b] * w
    a, b, w = area_upscale_taps(img.shape[1], size[1])
    w = w.astype(np.float32)[None, :, None]
    return rows[:, a] * (1 - w) + rows[:, b] * w


def blur_resize(img: np.ndarray, record: DegradationRecord) -> np.ndarray:
    """Blur with the record's kernel (reflect-101 borders), then the random resize."""
    kernel = kernel_for(record).astype(np.float32)
    out = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    return resize(out, scaled_size(*img.shape[:2], record.resize_scale), record.resize_mode)


def poisson_levels(levels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Poisson counts for 8-bit levels quantised to 2^ceil(log2(#distinct levels)) values."""
    distinct = int(np.count_nonzero(np.bincount(levels.ravel(), minlength=256)))
    vals = float(2 ** math.ceil(math.log2(max(distinct, 1))))
    counts = rng.poisson(levels.astype(np.float64) * (vals / 255.0))
    return counts, vals


def noise(img: np.ndarray, record: DegradationRecord) -> np.ndarray:
    rng = np.random.default_rng(record.seed)
    h, w = img.shape[:2]
    if record.noise_type == "gaussian":
        shape = (h, w, 1) if record.gray_noise else (h, w, 3)
        n = rng.standard_normal(shape, dtype=np.float32) * np.float32(record.noise_sigma / 255.0)
    else:
        src = img @ LUMA if record.gray_noise else img
        levels = np.clip(np.rint(src * 255.0), 0, 255).astype(np.uint8)
        counts, vals = poisson_levels(levels, rng)
        n = ((counts / vals - levels / 255.0) * record.poisson_scale).astype(np.float32)
        if record.gray_noise:
            n = n[..., None]
    return np.clip(img + n, 0.0, 1.0)


def jpeg(rgb_u8: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def degrade(rgb: np.ndarray, record: DegradationRecord, target: tuple[int, int] | None = None) -> np.ndarray:
    """LQ = resize_to_target(JPEG_q(noise(resize_s(HR * k)))), clamped and rounded to 8 bits.

    ``target`` is the final (height, width); None keeps the input size (enhancement training).
    """
    target = target or rgb.shape[:2]
    img = blur_resize(to_float(rgb), record)
    img = noise(img, record)
    img = to_float(jpeg(to_uint8(img), record.jpeg_quality))
    return to_uint8(resize(img, target, record.resize_mode))
