"""The sampler: proportions within 4 standard errors, every value inside its range, over 6000
records per setting."""

import math

import numpy as np
import pytest

from hggt.core.degradation.settings import (
    NAMED_SETTINGS,
    TABLE_2_REFERENCE,
    DegradationRecord,
    DegradationSettings,
    sample_record,
)

N = 6000


def _records(settings: DegradationSettings, seed: int = 0) -> list[DegradationRecord]:
    rng = np.random.default_rng(seed)
    return [sample_record(settings, rng) for _ in range(N)]


def _within_4se(observed: int, p: float) -> bool:
    se = math.sqrt(p * (1 - p) / N)
    return abs(observed / N - p) <= 4 * se + 1e-12


@pytest.mark.parametrize("name", ["1", "2", "table2"])
def test_categorical_proportions_match_the_settings(name):
    s = NAMED_SETTINGS[name]
    recs = _records(s)
    count = lambda pred: sum(1 for r in recs if pred(r))  # noqa: E731
    p_sinc = s.sinc_probability
    checks = {
        "sinc": (count(lambda r: r.kernel_type == "sinc"), p_sinc),
        "iso": (count(lambda r: r.kernel_type == "iso"), (1 - p_sinc) * s.iso_probability),
        "aniso": (count(lambda r: r.kernel_type == "aniso"), (1 - p_sinc) * (1 - s.iso_probability)),
        "down": (count(lambda r: r.resize_direction == "down"), s.resize_probabilities[0]),
        "same": (count(lambda r: r.resize_direction == "same"), s.resize_probabilities[1]),
        "up": (count(lambda r: r.resize_direction == "up"), s.resize_probabilities[2]),
        "gaussian": (count(lambda r: r.noise_type == "gaussian"), s.gaussian_noise_probability),
        "gray": (count(lambda r: r.gray_noise), s.gray_noise_probability),
    }
    for mode in ("area", "bilinear", "bicubic"):
        checks[mode] = (count(lambda r, m=mode: r.resize_mode == m), 1 / 3)
    for label, (observed, p) in checks.items():
        assert _within_4se(observed, p), (label, observed / N, p)


@pytest.mark.parametrize("name", ["1", "2", "table2"])
def test_every_value_lies_in_its_range(name):
    s = NAMED_SETTINGS[name]
    recs = _records(s, seed=1)
    sizes = {2 * m + 1 for m in range(s.kernel_half_range[0], s.kernel_half_range[1] + 1)}
    assert {r.kernel_size for r in recs} == sizes
    lo, hi = s.sigma_range
    for r in recs:
        if r.kernel_type == "iso":
            assert lo <= r.sigma_x == r.sigma_y <= hi and r.rotation == 0.0
        elif r.kernel_type == "aniso":
            assert lo <= r.sigma_x <= hi and lo <= r.sigma_y <= hi and -math.pi <= r.rotation <= math.pi
        else:
            low = math.pi / 3 if r.kernel_size < 13 else math.pi / 5
            assert low <= r.sinc_cutoff <= math.pi
        if r.resize_direction == "down":
            assert s.resize_range[0] <= r.resize_scale <= 1
        elif r.resize_direction == "up":
            assert 1 <= r.resize_scale <= s.resize_range[1]
        else:
            assert r.resize_scale == 1.0
        if r.noise_type == "gaussian":
            assert s.noise_sigma_range[0] <= r.noise_sigma <= s.noise_sigma_range[1] and r.poisson_scale == 0
        else:
            assert s.poisson_scale_range[0] <= r.poisson_scale <= s.poisson_scale_range[1] and r.noise_sigma == 0
        assert s.jpeg_range[0] <= r.jpeg_quality <= s.jpeg_range[1] and isinstance(r.jpeg_quality, int)
    assert {r.jpeg_quality for r in recs} == set(range(s.jpeg_range[0], s.jpeg_range[1] + 1))
    # continuous draws spread over their whole range
    sig = np.array([r.noise_sigma for r in recs if r.noise_type == "gaussian"])
    span = s.noise_sigma_range[1] - s.noise_sigma_range[0]
    assert sig.min() - s.noise_sigma_range[0] < 0.01 * span and s.noise_sigma_range[1] - sig.max() < 0.01 * span


def test_the_papers_tables_are_the_defaults():
    s1, s2, t2 = NAMED_SETTINGS["1"], NAMED_SETTINGS["2"], NAMED_SETTINGS["table2"]
    assert (s1.sigma_range, s1.noise_sigma_range, s1.poisson_scale_range) == ((0.1, 0.5), (6.5, 13.0), (0.45, 0.9))
    assert (s2.sigma_range, s2.noise_sigma_range, s2.poisson_scale_range) == ((0.5, 1.0), (0.5, 6.5), (0.05, 0.45))
    assert (t2.kernel_half_range, t2.sinc_probability, t2.sigma_range, t2.resize_range) == ((1, 4), 0.01, (0.1, 1.0), (0.8, 1.2))
    assert (t2.noise_sigma_range, t2.poisson_scale_range, t2.jpeg_range, t2.gray_noise_probability) == ((1.0, 12.0), (0.05, 0.8), (75, 95), 0.1)
    assert TABLE_2_REFERENCE.gray_noise_probability == 0.2
    for s in (s1, s2, t2):
        assert s.resize_probabilities == (0.85, 0.05, 0.1) and s.iso_probability == 0.7


def test_records_are_reproducible_and_round_trip_as_rows():
    a = _records(NAMED_SETTINGS["table2"], seed=5)[:50]
    b = _records(NAMED_SETTINGS["table2"], seed=5)[:50]
    assert a == b
    assert all(DegradationRecord.from_row(r.as_row()) == r for r in a)


@pytest.mark.parametrize("bad", [{"sigma_range": (2.0, 1.0)}, {"resize_probabilities": (0.5, 0.5, 0.5)}, {"jpeg_range": (0, 101)}])
def test_inconsistent_settings_are_refused(bad):
    with pytest.raises(ValueError):
        DegradationSettings(**bad)
