"""Texture statistics against an independent computation: per-crop grayscale, an explicit 3x3
Laplacian with reflect-101 borders and 8-bit saturation, and numpy's std/var."""

import cv2
import numpy as np
import pytest

from hggt.core.config import PatchConfig
from hggt.core.presets import load_config
from hggt.core.images import to_gray
from hggt.core.patches import candidates, grid_positions
from hggt.core.seeding import item_rng
from tests.photos import textured


def explicit_laplacian_u8(gray: np.ndarray) -> np.ndarray:
    g = np.pad(gray.astype(np.int64), 1, mode="reflect")  # numpy 'reflect' == OpenCV BORDER_REFLECT_101
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1]
    return np.clip(lap, 0, 255)


def reference_stats(rgb: np.ndarray, row: int, col: int, size: int) -> tuple[float, float]:
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[row : row + size, col : col + size]), cv2.COLOR_RGB2GRAY)
    return float(gray.astype(np.float64).std()), float(explicit_laplacian_u8(gray).astype(np.float64).var())


def test_explicit_laplacian_agrees_with_opencv_8bit_output():
    gray = to_gray(textured(64, 80, seed=3))
    assert np.array_equal(explicit_laplacian_u8(gray), cv2.Laplacian(gray, cv2.CV_8U))


@pytest.mark.parametrize(
    "cfg, shape",
    [
        (PatchConfig(), (1356, 2040)),
        (load_config("demo").patches, (300, 451)),
        (PatchConfig(crop_size=64, step=40, jitter=8), (257, 311)),
    ],
)
def test_candidate_statistics_match_the_reference(cfg, shape):
    rgb = textured(*shape, seed=7)
    found = candidates(rgb, "img", cfg, seed=11)
    positions = grid_positions(*shape, cfg, item_rng(11, "patches", "img"))
    assert [(c.row, c.col) for c in found] == [tuple(p) for p in positions.tolist()]
    assert any(c.texture_ok for c in found) and not all(c.texture_ok for c in found)
    for c in found:
        std, lap_var = reference_stats(rgb, c.row, c.col, cfg.crop_size)
        assert c.gray_std == pytest.approx(std, rel=1e-12, abs=1e-12)
        assert c.lap_var == pytest.approx(lap_var, rel=1e-12, abs=1e-12)
        assert c.texture_ok == (std >= cfg.min_gray_std and lap_var >= cfg.min_laplacian_var)


def test_crops_touching_the_image_border_use_their_own_reflect_border():
    """A crop at the image's corner and one in the interior: the frame correction must give the
    crop's own Laplacian in both cases."""
    rgb = textured(200, 200, seed=1)
    cfg = PatchConfig(crop_size=100, step=50, jitter=0)
    for c in candidates(rgb, "x", cfg, seed=0):
        assert c.lap_var == pytest.approx(reference_stats(rgb, c.row, c.col, 100)[1], rel=1e-12)


def test_texture_thresholds_are_inclusive():
    """A crop whose std is exactly 30 passes: half the pixels at 100, half at 160."""
    rgb = np.full((64, 64, 3), 100, np.uint8)
    rgb[:, ::2] = 160  # vertical stripes: the Laplacian is large everywhere
    cfg = PatchConfig(crop_size=64, step=64, jitter=0, offset_rules=[{"min_length": 0, "max_offset": 0}])
    (c,) = candidates(rgb, "s", cfg, seed=0)
    assert c.gray_std == 30.0 and c.texture_ok
    strict = cfg.model_copy(update={"min_gray_std": 30.000001})
    (c,) = candidates(rgb, "s", strict, seed=0)
    assert not c.texture_ok


def test_flat_crops_fail_the_texture_test():
    rgb = np.full((300, 300, 3), 77, np.uint8)
    for c in candidates(rgb, "flat", PatchConfig(crop_size=128, step=72, jitter=4), seed=0):
        assert c.gray_std == 0.0 and c.lap_var == 0.0 and not c.texture_ok
