"""The CPU degradation path (numpy + OpenCV): one record applied to one RGB image.

Works in float32 on [0, 1]; every random draw comes from the record's seed, so applying the same
record to the same image twice gives identical bytes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from hggt.core.degradation.kernels import kernel_for
from hggt.core.degradation.poisson import poisson_counts
from hggt.core.degradation.resize import area_upscale_taps, scaled_size
from hggt.core.degradation.settings import DegradationRecord

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
    # Two passes over rows (contiguous gathers), transposing in between.
    def rows(x: np.ndarray, n: int) -> np.ndarray:
        a, b, w = area_upscale_taps(x.shape[0], n)
        w = w.astype(np.float32).reshape(-1, *([1] * (x.ndim - 1)))
        out = x[a] * (1 - w)
        out += x[b] * w
        return np.ascontiguousarray(out.swapaxes(0, 1))

    return rows(rows(img, size[0]), size[1])


def blur(img: np.ndarray, record: DegradationRecord) -> np.ndarray:
    """Blur with the record's kernel, reflect-101 borders. The isotropic Gaussian is the outer
    product of two 1-D Gaussians, so it runs as two 1-D passes."""
    if record.kernel_type == "iso":
        g = np.exp(-0.5 * (np.arange(record.kernel_size) - record.kernel_size // 2) ** 2 / record.sigma_x**2)
        g = (g / g.sum()).astype(np.float32)
        return cv2.sepFilter2D(img, -1, g, g, borderType=cv2.BORDER_REFLECT_101)
    return cv2.filter2D(img, -1, kernel_for(record).astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


def blur_resize(img: np.ndarray, record: DegradationRecord) -> np.ndarray:
    """Blur, then the random resize."""
    return resize(blur(img, record), scaled_size(*img.shape[:2], record.resize_scale), record.resize_mode)


def poisson_noise(src: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Quantise to 8-bit levels, draw Poisson counts at 2^ceil(log2(#distinct levels)) values per
    unit, and return (counts / values - level) * scale."""
    levels = to_uint8(src)
    # calcHist counts levels in about half of bincount's time
    distinct = int(np.count_nonzero(cv2.calcHist([levels.reshape(-1, 1)], [0], None, [256], [0, 256])))
    vals = float(2 ** math.ceil(math.log2(max(distinct, 1))))
    n = poisson_counts(levels, vals, rng)
    n *= np.float32(scale / vals)
    # level * (scale / 255) through a 256-entry table: the same float32 products in one pass
    n -= cv2.LUT(levels, np.arange(256, dtype=np.float32) * np.float32(scale / 255.0))
    return n


def gaussian_field(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """N(0, sigma^2) float32 noise. OpenCV's ziggurat draws it about 4x faster than numpy's
    float32 one; its generator is seeded from the record's, and its state is per thread, so the
    field is still a function of the record alone."""
    # one channel: OpenCV would read an H x W x 3 array as 3 channels and a scalar sigma as (sigma, 0, 0)
    out = np.empty((shape[0], int(np.prod(shape[1:]))), np.float32)
    cv2.setRNGSeed(int(rng.integers(-(2**31), 2**31)))  # setRNGSeed takes a C int
    cv2.randn(out, 0.0, float(sigma))
    return out.reshape(shape)


def noise(img: np.ndarray, record: DegradationRecord) -> np.ndarray:
    rng = np.random.default_rng(record.seed)
    h, w = img.shape[:2]
    if record.noise_type == "gaussian":
        n = gaussian_field((h, w) if record.gray_noise else (h, w, 3), record.noise_sigma / 255.0, rng)
    else:
        n = poisson_noise(img @ LUMA if record.gray_noise else img, record.poisson_scale, rng)
    out = img + (n[..., None] if record.gray_noise else n)
    return np.clip(out, 0.0, 1.0, out=out)


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
