"""Indication maps against an independent direct computation with explicit window loops."""

import numpy as np
import pytest
import torch

from hggt.core.maps import indication_map, indication_maps_torch


def direct(ori, pos, neg, n_pos, n_neg, k=3):
    """SPEC section 6 word for word: residuals, a loop over every k x k window of the
    reflect-padded residual, unbiased variance, power 3/4, vote weight, indication rule."""
    def var_map(r):
        p = k // 2
        padded = np.pad(r, p, mode="reflect")
        out = np.zeros_like(r)
        for y in range(r.shape[0]):
            for x in range(r.shape[1]):
                window = [padded[y + i, x + j] for i in range(k) for j in range(k)]
                mean = sum(window) / len(window)
                out[y, x] = sum((w - mean) ** 2 for w in window) / (len(window) - 1)
        return out

    r_n = np.abs(ori - neg).sum(axis=2)
    m_neg = n_neg / 3 * var_map(r_n) ** 0.75
    if pos is None:
        return np.zeros_like(m_neg), m_neg, m_neg
    m_pos = n_pos / 3 * var_map(np.abs(ori - pos).sum(axis=2)) ** 0.75
    return m_pos, m_neg, np.where(m_neg > m_pos, m_neg, 0)


def _images(seed, h=17, w=23):
    rng = np.random.default_rng(seed)
    ori = rng.random((h, w, 3))
    pos = np.clip(ori + 0.05 * rng.standard_normal((h, w, 3)), 0, 1)
    neg = np.clip(ori + 0.2 * rng.standard_normal((h, w, 3)) * (rng.random((h, w, 1)) < 0.4), 0, 1)
    return ori, pos, neg


@pytest.mark.parametrize("seed, k, n_pos, n_neg", [(0, 3, 2, 3), (1, 3, 3, 2), (2, 5, 3, 3), (3, 7, 2, 2)])
def test_maps_match_the_direct_computation(seed, k, n_pos, n_neg):
    ori, pos, neg = _images(seed)
    for got, want in zip(indication_map(ori, pos, neg, n_pos, n_neg, k), direct(ori, pos, neg, n_pos, n_neg, k)):
        assert got.dtype == np.float32 and got.shape == ori.shape[:2]
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    m_pos, m_neg, m_ind = indication_map(ori, pos, neg, n_pos, n_neg, k)
    assert ((m_ind == 0) | (m_ind == m_neg)).all() and (m_ind > 0).any()
    assert k > 3 or (m_ind == 0).any()  # small windows leave places where the positive deviates more


def test_without_a_positive_the_indication_map_is_m_neg():
    ori, _, neg = _images(4)
    m_pos, m_neg, m_ind = indication_map(ori, None, neg, 0, 3)
    assert (m_pos == 0).all() and np.array_equal(m_ind, m_neg)
    np.testing.assert_allclose(m_neg, direct(ori, None, neg, 0, 3)[1], atol=1e-5)


def test_identical_images_give_empty_maps():
    ori, _, _ = _images(5)
    for m in indication_map(ori, ori, ori.copy(), 3, 3):
        assert (m == 0).all()


def test_numpy_and_batched_torch_agree():
    batch = [_images(s, 32, 40) for s in range(4)]
    n_pos, n_neg = [3, 2, 2, 3], [2, 3, 3, 2]
    has_pos = [True, False, True, True]
    t = lambda xs: torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2)  # noqa: E731
    ori, pos, neg = (t([b[i] for b in batch]) for i in range(3))
    maps = indication_maps_torch(ori, pos, neg, torch.tensor(n_pos), torch.tensor(n_neg), torch.tensor(has_pos))
    for i, (o, p, n) in enumerate(batch):
        ref = indication_map(o, p if has_pos[i] else None, n, n_pos[i], n_neg[i])
        for got, want in zip(maps, ref):
            assert got.shape == (4, 1, 32, 40)
            np.testing.assert_allclose(got[i, 0].numpy(), want, atol=1e-5)
