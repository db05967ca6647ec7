"""Features of an (original, enhanced version) crop pair, all cheap full-reference statistics.

The rule-based proxy sees two numbers (how much a version changes the image, whether it is sharper);
people also see *where* and *how* it changes: noise and ringing (high-frequency residual), halos
along edges, blotches in flat regions, a colour cast. Each feature below is a proxy for one of those.
Magnitudes enter as logs: the model is linear, and people judge changes roughly by ratio.
"""

from __future__ import annotations

import cv2
import numpy as np

PROXY_FEATURES = ("log_mean_abs_change", "log_sharpness_ratio")
FULL_FEATURES = (
    *PROXY_FEATURES,
    "log_colour_shift",  # |mean(O - X)| of the worst channel: tints and brightness changes
    "log_residual_std",
    "log_residual_p50", "log_residual_p90", "log_residual_p99",  # how the change is spread: everywhere or in a few pixels
    "high_frequency_share",  # residual energy above a Gaussian blur: noise, ringing, sharpening
    "log_gradient_ratio",  # mean gradient magnitude, version over original
    "log_block_energy_max", "block_energy_spread",  # 4x4 blocks of residual energy: local damage vs uniform change
    "flat_region_share",  # share of residual energy in the original's flattest quarter: artefacts people notice most
)
FEATURE_SETS = {"proxy": PROXY_FEATURES, "full": FULL_FEATURES}
_BLOCKS = 4


# Everything in float64: numpy's float32 sums take SIMD paths that depend on the buffer's memory
# alignment, so the same crop could give features differing in the 7th digit from run to run.
def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _grad(gray: np.ndarray) -> np.ndarray:
    return cv2.magnitude(cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3))


def _block_means(values: np.ndarray) -> np.ndarray:
    h, w = values.shape
    bh, bw = h // _BLOCKS, w // _BLOCKS
    return values[: bh * _BLOCKS, : bw * _BLOCKS].reshape(_BLOCKS, bh, _BLOCKS, bw).mean(axis=(1, 3)).ravel()


def check_pair(original: np.ndarray, version: np.ndarray, item: str) -> None:
    """A clear error naming the item when a pair cannot be compared."""
    for what, img in (("original", original), ("version", version)):
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            shape = getattr(img, "shape", type(img).__name__)
            raise ValueError(f"{item}: the {what} must be an 8-bit RGB image (H, W, 3), got {shape} "
                             f"{getattr(img, 'dtype', '')}".rstrip())
    if original.shape != version.shape:
        raise ValueError(f"{item}: the version is {version.shape[1]}x{version.shape[0]} but the original is "
                         f"{original.shape[1]}x{original.shape[0]}; a full-reference comparison needs the same size")
    if min(original.shape[:2]) < 2 * _BLOCKS:
        raise ValueError(f"{item}: {original.shape[1]}x{original.shape[0]} is too small (at least {2 * _BLOCKS} px a side)")


def pair_features(original: np.ndarray, version: np.ndarray, item: str = "pair") -> dict[str, float]:
    """Every feature of :data:`FULL_FEATURES` for one pair of 8-bit RGB crops of the same size."""
    check_pair(original, version, item)
    o, x = original.astype(np.float64), version.astype(np.float64)
    diff = o - x
    go, gx = _gray(original), _gray(version)
    r = gx - go
    a = np.abs(r)
    energy = float((r * r).mean()) + 1e-6
    hf = r - cv2.GaussianBlur(r, (0, 0), 1.5)
    lap_o, lap_x = float(cv2.Laplacian(go, cv2.CV_64F).var()), float(cv2.Laplacian(gx, cv2.CV_64F).var())
    grad_o = _grad(go)
    blocks = np.log1p(_block_means(r * r))
    local_var = cv2.blur(go * go, (7, 7)) - cv2.blur(go, (7, 7)) ** 2
    flat = local_var <= np.quantile(local_var, 0.25)
    p50, p90, p99 = np.percentile(a, (50, 90, 99))
    return {
        "log_mean_abs_change": float(np.log1p(np.abs(diff).mean())),
        "log_sharpness_ratio": float(np.log((lap_x + 1.0) / (lap_o + 1.0))),
        "log_colour_shift": float(np.log1p(np.abs(diff.mean(axis=(0, 1))).max())),
        "log_residual_std": float(np.log1p(r.std())),
        "log_residual_p50": float(np.log1p(p50)), "log_residual_p90": float(np.log1p(p90)), "log_residual_p99": float(np.log1p(p99)),
        "high_frequency_share": float((hf * hf).mean() / energy),
        "log_gradient_ratio": float(np.log((_grad(gx).mean() + 1.0) / (grad_o.mean() + 1.0))),
        "log_block_energy_max": float(blocks.max()),
        "block_energy_spread": float(blocks.std()),
        "flat_region_share": float((r * r)[flat].sum() / (energy * r.size)),
    }


def feature_matrix(rows: list[dict[str, float]], names: tuple[str, ...]) -> np.ndarray:
    return np.array([[row[n] for n in names] for row in rows], dtype=np.float64).reshape(len(rows), len(names))
