"""Grid positions of candidate crops (SPEC section 4)."""

import numpy as np
import pytest

from hggt.core.config import PatchConfig
from hggt.core.presets import load_config
from hggt.core.patches import grid_positions, max_offset

PAPER = PatchConfig()


@pytest.mark.parametrize(
    "length, k",
    [(512, 32), (1199, 32), (1200, 64), (2399, 64), (2400, 128), (6000, 128)],
)
def test_offset_bound_follows_the_1200_and_2400_px_thresholds(length, k):
    assert max_offset(length, PAPER) == k


def _many(height, width, cfg=PAPER, n=400):
    return [grid_positions(height, width, cfg, np.random.default_rng(s)) for s in range(n)]


@pytest.mark.parametrize("height, width", [(800, 1100), (1356, 2040), (2600, 3000)])
def test_every_crop_fits_and_follows_the_jittered_grid(height, width):
    crop, step, jit = PAPER.crop_size, PAPER.step, PAPER.jitter
    for pos in _many(height, width, n=100):
        assert len(pos) > 0
        rows, cols = pos[:, 0], pos[:, 1]
        assert rows.min() >= 0 and cols.min() >= 0
        assert (rows + crop <= height).all() and (cols + crop <= width).all()
        for axis in (rows, cols):
            # Values of one grid line lie within 2 * jitter of each other; lines are a step apart.
            values = np.unique(axis)
            gaps = np.diff(values)
            between = gaps[gaps > 2 * jit]
            assert (between >= step - 2 * jit).all() and (between <= step + 2 * jit).all()
            assert len(between) + 1 == len(np.unique(np.round((axis - axis.min()) / step)))


def test_offsets_and_jitter_cover_their_ranges():
    """Origins of a tall, narrow image come from one column of the grid: the first row position is
    max(0, offset + jitter) with offset in [0, k] and jitter in [-16, 16]."""
    for height, k in ((1100, 32), (1300, 64), (2500, 128)):
        firsts, seconds = [], []
        for s in range(30000):
            pos = grid_positions(height, 600, PAPER, np.random.default_rng(s))
            rows = np.sort(pos[:, 0])
            firsts.append(rows[0])
            seconds.append(rows[1])
        firsts, seconds = np.array(firsts), np.array(seconds)
        assert firsts.min() == 0  # clamping at 0 happens
        assert firsts.max() == k + PAPER.jitter
        # Second row = offset + 288 + jitter, never clamped: covers [288 - 16, 288 + k + 16].
        assert seconds.min() == PAPER.step - PAPER.jitter
        assert seconds.max() == PAPER.step + k + PAPER.jitter


def test_candidate_count_matches_the_number_of_fitting_grid_points():
    """Without jitter, the count is exactly the grid points o + i*step with o + i*step + crop <= L."""
    cfg = PAPER.model_copy(update={"jitter": 0})
    for s in range(200):
        height, width = 900 + 7 * s, 1300 + 11 * s
        rng = np.random.default_rng(s)
        pos = grid_positions(height, width, cfg, rng)
        rng = np.random.default_rng(s)
        oy = rng.integers(0, max_offset(height, cfg) + 1)
        ox = rng.integers(0, max_offset(width, cfg) + 1)
        ny = len(range(oy, height - cfg.crop_size + 1, cfg.step))
        nx = len(range(ox, width - cfg.crop_size + 1, cfg.step))
        assert len(pos) == ny * nx
        assert set(map(tuple, pos)) == {(oy + i * 288, ox + j * 288) for i in range(ny) for j in range(nx)}


def test_jitter_is_uniform_over_its_33_values():
    """Middle grid points are never clamped or dropped, so row - nominal is the jitter itself."""
    counts = np.zeros(33, int)
    cfg = PAPER.model_copy(update={"offset_rules": PAPER.offset_rules[:1], "jitter": 16})
    cfg = cfg.model_copy(update={"offset_rules": (cfg.offset_rules[0].model_copy(update={"max_offset": 0}),)})
    for s in range(2000):
        pos = grid_positions(2000, 520, cfg, np.random.default_rng(s))
        for r in pos[:, 0]:
            if 200 < r < 1400:
                nominal = int(round(r / 288)) * 288
                counts[r - nominal + 16] += 1
    assert counts.min() > 0
    expected = counts.sum() / 33
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 70  # 32 degrees of freedom: p < 1e-4 above this


def test_images_smaller_than_the_crop_have_no_candidates():
    assert len(grid_positions(500, 2000, PAPER, np.random.default_rng(0))) == 0
    assert len(grid_positions(512, 512, PAPER, np.random.default_rng(0))) in (0, 1)


def test_demo_preset_scales_the_geometry():
    cfg = load_config("demo").patches
    assert (cfg.crop_size, cfg.step) == (128, 72)
    pos = grid_positions(300, 451, cfg, np.random.default_rng(0))
    assert len(pos) >= 4
    assert (pos + 128 <= np.array([300, 451])).all()
