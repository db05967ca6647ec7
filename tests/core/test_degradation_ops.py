"""Kernels against closed forms, noise statistics, JPEG, sizes, determinism, and agreement of the
CPU and torch paths."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from hggt.core.degradation import batched, cpu
from hggt.core.degradation.kernels import covariance, gaussian_kernel, sinc_kernel
from hggt.core.degradation.resize import area_weights
from hggt.core.degradation.settings import NAMED_SETTINGS, DegradationRecord, sample_record
from tests.photos import textured


def record(**kw) -> DegradationRecord:
    base = dict(
        kernel_type="iso", kernel_size=3, sigma_x=0.1, sigma_y=0.1, rotation=0.0, sinc_cutoff=0.0,
        resize_direction="same", resize_scale=1.0, resize_mode="bilinear", noise_type="gaussian",
        noise_sigma=0.0, poisson_scale=0.0, gray_noise=False, jpeg_quality=95, seed=1,
    )
    return DegradationRecord(**{**base, **kw})


def test_isotropic_kernel_is_the_sampled_gaussian():
    for size, sigma in ((3, 0.3), (7, 0.9), (9, 1.0)):
        half = size // 2
        expected = np.array([[math.exp(-(x * x + y * y) / (2 * sigma**2)) for x in range(-half, half + 1)] for y in range(-half, half + 1)])
        expected /= expected.sum()
        k = gaussian_kernel(size, sigma, sigma)
        assert k.shape == (size, size) and k.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(k, expected, rtol=1e-12, atol=1e-15)


def test_anisotropic_kernel_second_moments_match_its_covariance():
    rng = np.random.default_rng(0)
    for _ in range(5):
        sx, sy, rot = rng.uniform(1.0, 3.0), rng.uniform(1.0, 3.0), rng.uniform(-math.pi, math.pi)
        k = gaussian_kernel(41, sx, sy, rot)
        ax = np.arange(-20, 21)
        x, y = np.meshgrid(ax, ax, indexing="xy")
        moments = np.array([[(k * x * x).sum(), (k * x * y).sum()], [(k * x * y).sum(), (k * y * y).sum()]])
        # The sampled Gaussian's discrete variance exceeds the continuous one by < 1e-3 here.
        np.testing.assert_allclose(moments, covariance(sx, sy, rot), atol=2e-3)
        assert abs((k * x).sum()) < 1e-12 and abs((k * y).sum()) < 1e-12


def test_sinc_kernel_is_the_ideal_circular_low_pass_response():
    """Independent check: the impulse response of the disk |w| < wc, integrated numerically,
    h(x, y) = 1/(4 pi^2) * integral over the disk of cos(w . (x, y))."""
    for size, cutoff in ((7, math.pi / 3), (9, 2.0), (5, math.pi)):
        half = size // 2
        h = np.zeros((size, size))
        for iy, y in enumerate(range(-half, half + 1)):
            for ix, x in enumerate(range(-half, half + 1)):
                val, _ = integrate.dblquad(
                    lambda t, rho: rho * math.cos(rho * (x * math.cos(t) + y * math.sin(t))),
                    0, cutoff, 0, 2 * math.pi, epsabs=1e-11, epsrel=1e-11,
                )
                h[iy, ix] = val / (4 * math.pi**2)
        np.testing.assert_allclose(sinc_kernel(size, cutoff), h / h.sum(), atol=1e-8)


def test_area_weights_rows_sum_to_one_and_match_box_averages():
    w = area_weights(10, 4)  # each output averages 2.5 source pixels
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w[0, :3], [0.4, 0.4, 0.2])
    w = area_weights(3, 5)  # enlarging: footprints of 0.6 px
    np.testing.assert_allclose(w[1], [2 / 3, 1 / 3, 0])


def flat(value: float, size: int = 256) -> np.ndarray:
    return np.full((size, size, 3), value, np.float32)


def test_gaussian_noise_has_the_recorded_sigma():
    for sigma in (1.0, 6.5, 13.0):
        out = cpu.noise(flat(0.5), record(noise_sigma=sigma))
        residual = out - 0.5
        assert residual.std() == pytest.approx(sigma / 255, rel=0.02)
        assert abs(residual.mean()) < 4 * sigma / 255 / math.sqrt(residual.size)  # 4 standard errors


def test_gray_noise_is_identical_across_channels():
    for kind in ({"noise_type": "gaussian", "noise_sigma": 8.0}, {"noise_type": "poisson", "poisson_scale": 0.5}):
        out = cpu.noise(cpu.to_float(textured(64, 64)), record(gray_noise=True, **kind))
        base = cpu.to_float(textured(64, 64))
        n = out - base
        inside = (out > 0) & (out < 1)
        both = inside[..., 0] & inside[..., 1] & inside[..., 2]
        np.testing.assert_allclose(n[both][:, 0], n[both][:, 1], atol=1e-6)
        np.testing.assert_allclose(n[both][:, 0], n[both][:, 2], atol=1e-6)
        colour = cpu.noise(base, record(gray_noise=False, **kind)) - base
        assert np.abs(colour[..., 0] - colour[..., 1]).mean() > 1e-3


def _stripes() -> np.ndarray:
    """256 horizontal stripes, one per 8-bit level, so Poisson quantisation uses 256 values."""
    levels = np.repeat(np.arange(256, dtype=np.float32), 64)[:, None] * np.ones((1, 200), np.float32)
    return np.repeat((levels / 255.0)[..., None], 3, axis=2)


def test_poisson_noise_variance_grows_with_intensity_and_scale():
    img = _stripes()
    for scale in (0.2, 0.8):
        out = cpu.noise(img, record(noise_type="poisson", poisson_scale=scale, seed=3))
        variances = []
        for level in (16, 64, 128, 224):
            band = (out - img)[level * 64 : (level + 1) * 64]
            # counts ~ Poisson(level/255 * 256) / 256, times the scale
            expected = (level / 255 * 256) / 256**2 * scale**2
            assert band.var() == pytest.approx(expected, rel=0.1), (scale, level)
            variances.append(band.var())
        assert variances == sorted(variances)


def test_jpeg_error_shrinks_as_quality_grows():
    rgb = textured(128, 128, seed=2)
    errors = [np.abs(cpu.jpeg(rgb, q).astype(int) - rgb).mean() for q in (10, 40, 75, 95, 100)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors


@pytest.mark.parametrize("target", [None, (32, 40)])
def test_outputs_are_8bit_at_the_target_size(target):
    rgb = textured(128, 160, seed=1)
    rng = np.random.default_rng(2)
    for _ in range(20):
        r = sample_record(NAMED_SETTINGS["table2"], rng)
        out = cpu.degrade(rgb, r, target)
        assert out.dtype == np.uint8 and out.shape == (*(target or (128, 160)), 3)
        x = torch.from_numpy(cpu.to_float(rgb)).permute(2, 0, 1)[None]
        t = batched.degrade(x, [r], target)
        assert t.shape == (1, 3, *(target or (128, 160)))
        assert torch.equal(torch.round(t * 255), t * 255)


def test_the_same_record_gives_identical_bytes():
    rgb = textured(96, 96, seed=4)
    rng = np.random.default_rng(7)
    x = torch.from_numpy(cpu.to_float(rgb)).permute(2, 0, 1)[None]
    for _ in range(20):
        r = sample_record(NAMED_SETTINGS["1"], rng)
        assert cpu.degrade(rgb, r).tobytes() == cpu.degrade(rgb.copy(), r).tobytes()
        assert torch.equal(batched.degrade(x, [r]), batched.degrade(x.clone(), [r]))


@pytest.mark.parametrize("name", ["1", "2", "table2"])
def test_cpu_and_torch_blur_and_resize_agree_within_one_level(name):
    rgb = textured(72, 88, seed=6)
    img = cpu.to_float(rgb)
    rng = np.random.default_rng(11)
    records = [sample_record(NAMED_SETTINGS[name], rng) for _ in range(120)]
    x = torch.from_numpy(img).permute(2, 0, 1)[None].repeat(len(records), 1, 1, 1)
    torch_out = batched.blur_resize(x, records)
    seen = set()
    for r, t in zip(records, torch_out):
        a = cpu.blur_resize(img, r)
        b = t[0].permute(1, 2, 0).numpy()
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= 1 / 255, r
        seen.add((r.resize_direction, r.resize_mode))
    assert len(seen) >= 7  # every resize mode, shrinking and enlarging, was compared


def test_cpu_and_torch_noise_and_jpeg_agree_statistically():
    rgb = textured(128, 128, seed=8)
    img = cpu.to_float(rgb)
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    for kind in ({"noise_type": "gaussian", "noise_sigma": 10.0}, {"noise_type": "poisson", "poisson_scale": 0.6}):
        for gray in (False, True):
            r = record(gray_noise=gray, seed=21, **kind)
            a = cpu.noise(img, r) - img
            b = (batched.noise(x, r) - x)[0].permute(1, 2, 0).numpy()
            assert b.std() == pytest.approx(a.std(), rel=0.05) and abs(a.mean() - b.mean()) < 2e-3
            assert not np.array_equal(a, b) or r.noise_sigma == 0
    for q in (75, 95):
        a = np.abs(cpu.jpeg(rgb, q).astype(float) - rgb).mean()
        b = (batched.jpeg(x, q) * 255 - x * 255).abs().mean().item()
        assert b == pytest.approx(a, rel=0.05)


@pytest.mark.parametrize("vals", [1.0, 16.0, 256.0])
def test_fast_poisson_sampler_has_the_poisson_distribution(vals):
    from scipy import stats

    from hggt.core.degradation.poisson import poisson_counts

    levels = np.repeat(np.array([0, 3, 40, 128, 255], np.uint8), 40000)
    counts = poisson_counts(levels, vals, np.random.default_rng(1))
    assert counts.dtype == np.float32 and (counts == np.round(counts)).all()
    for level in (0, 3, 40, 128, 255):
        rate = level * vals / 255
        sample = counts[levels == level].astype(int)
        if rate == 0:
            assert (sample == 0).all()
            continue
        lo, hi = stats.poisson.ppf(0.001, rate), stats.poisson.ppf(0.999, rate)
        edges = np.unique(np.linspace(lo, hi, 12).round())
        observed = np.histogram(sample, bins=np.r_[-np.inf, edges, np.inf])[0]
        cdf = stats.poisson.cdf(np.r_[edges - 1, np.inf], rate)
        expected = np.diff(np.r_[0.0, cdf]) * sample.size
        keep = expected > 5
        chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
        assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-4, (level, vals, chi2)


@pytest.mark.parametrize("vals", [1.0, 8.0, 256.0])
def test_fast_poisson_sampler_is_the_plain_inversion_of_the_same_uniforms(vals):
    """The table-and-bisection sampler returns, draw for draw, the first CDF entry above u, so
    recorded samples keep their bytes whatever the lookup strategy."""
    from hggt.core.degradation.poisson import cdf_tables, poisson_counts

    levels = np.random.default_rng(0).integers(0, 256, (300, 257), dtype=np.uint8)
    counts = poisson_counts(levels, vals, np.random.default_rng(5))
    u = np.random.default_rng(5).random(levels.size)
    cdf = cdf_tables(np.arange(256) * (vals / 255.0))
    plain = np.array([np.searchsorted(cdf[lv], x, side="right") for lv, x in zip(levels.ravel(), u)])
    np.testing.assert_array_equal(counts.ravel(), plain)


def test_gaussian_noise_is_independent_per_channel_and_a_function_of_the_record():
    base = flat(0.5, 300)
    r = record(noise_sigma=9.0, seed=17)
    n = cpu.noise(base, r) - base
    for c in range(3):  # every channel carries the full sigma
        assert n[..., c].std() == pytest.approx(9.0 / 255, rel=0.02)
    corr = np.corrcoef(n.reshape(-1, 3).T)
    assert np.abs(corr[np.triu_indices(3, 1)]).max() < 0.02
    assert np.array_equal(cpu.noise(base, r), cpu.noise(base.copy(), r))
    assert not np.array_equal(cpu.noise(base, r), cpu.noise(base, record(noise_sigma=9.0, seed=18)))
