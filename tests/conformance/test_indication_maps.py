"""hggt's indication maps against the authors' ``get_overall_map`` (``basicsr/losses/loss_util.py``),
called as their ``train_net_g`` calls it: one (1, 3, H, W) float32 sample at a time, the original
standing in for a missing positive (whose M_neg is then used unrefined), vote counts as Python ints
(what their training-pair queue hands back) or as int64 tensors (the first batches, before the
queue fills). Both numpy (maps stage, artifact rate) and batched torch (training) paths must give
their M_pos and M_neg bit for bit, hence the same pixels with M_ind > 0, ties included.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from hggt.core.maps import indication_map, indication_maps_torch
from hggt.core.sample_photos import sample_photo_paths


@pytest.fixture(scope="module")
def get_overall_map(ref):
    return ref.module("basicsr.losses.loss_util").get_overall_map


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img, np.float32)).permute(2, 0, 1)[None].contiguous()


def _theirs(get_overall_map, ori, pos, neg, n_pos, n_neg, ksize=3, votes=int):
    """(M_pos, M_neg, M_ind) as H x W arrays, the way their training loop obtains them."""
    o, n = _t(ori), _t(neg)
    p = o if pos is None else _t(pos)
    n_pos = 3 if pos is None else n_pos  # the original's vote count (their label_num_list[0])
    m_pos, m_neg, refined = get_overall_map(p, n, o, ksize, positive_num=votes(n_pos), negative_num=votes(n_neg))
    m_ind = m_neg if pos is None else refined
    return tuple(m[0, 0].numpy() for m in (m_pos, m_neg, m_ind))


def _assert_same(ours, theirs, without_positive=False):
    m_pos, m_neg, m_ind = ours
    t_pos, t_neg, t_ind = theirs
    assert np.array_equal(m_neg, t_neg) and np.array_equal(m_ind, t_ind)
    assert np.array_equal(m_ind > 0, t_ind > 0)
    if without_positive:
        assert not m_pos.any() and not t_pos.any()  # the original against itself: no variation
    else:
        assert np.array_equal(m_pos, t_pos)


def _random(seed, h, w):
    rng = np.random.default_rng(seed)
    to8 = lambda x: np.round(np.clip(x, 0, 1) * 255) / 255  # noqa: E731 - images are 8-bit
    ori = rng.random((h, w, 3))
    pos = to8(ori + 0.05 * rng.standard_normal((h, w, 3)))
    neg = to8(ori + 0.2 * rng.standard_normal((h, w, 3)) * (rng.random((h, w, 1)) < 0.4))
    return [x.astype(np.float32) for x in (to8(ori), pos, neg)]


def _photo(index, size=96):
    """A photo crop, a sharpened positive and an over-sharpened JPEG negative (8-bit, in [0, 1])."""
    ori = cv2.imread(str(sample_photo_paths()[index]))[:size, :size]
    pos = cv2.addWeighted(ori, 1.5, cv2.GaussianBlur(ori, (0, 0), 1.0), -0.5, 0)
    jpeg = cv2.imdecode(cv2.imencode(".jpg", ori, [cv2.IMWRITE_JPEG_QUALITY, 30])[1], cv2.IMREAD_COLOR)
    neg = cv2.addWeighted(jpeg, 1.8, cv2.GaussianBlur(jpeg, (0, 0), 1.5), -0.8, 0)
    return [x.astype(np.float32) / 255 for x in (ori, pos, neg)]


@pytest.mark.parametrize("seed, h, w, n_pos, n_neg, ksize", [(0, 17, 23, 2, 3, 3), (1, 64, 48, 3, 2, 3), (2, 40, 40, 2, 2, 3),
                                                              (3, 24, 31, 3, 3, 5)])
@pytest.mark.parametrize("votes", [int, torch.tensor], ids=["int", "tensor"])
def test_random_images(get_overall_map, seed, h, w, n_pos, n_neg, ksize, votes):
    ori, pos, neg = _random(seed, h, w)
    theirs = _theirs(get_overall_map, ori, pos, neg, n_pos, n_neg, ksize, votes)
    _assert_same(indication_map(ori, pos, neg, n_pos, n_neg, ksize), theirs)
    theirs = _theirs(get_overall_map, ori, None, neg, 0, n_neg, ksize, votes)
    _assert_same(indication_map(ori, None, neg, 0, n_neg, ksize), theirs, without_positive=True)


@pytest.mark.parametrize("index", range(4))
def test_photos(get_overall_map, index):
    ori, pos, neg = _photo(index)
    for n_pos, n_neg in ((3, 2), (2, 2), (2, 3)):
        _assert_same(indication_map(ori, pos, neg, n_pos, n_neg), _theirs(get_overall_map, ori, pos, neg, n_pos, n_neg))


def test_constructed_ties(get_overall_map):
    """Flat residuals (zero variance, so M_neg = M_pos = 0: hggt's sliding box sums in float64 carried
    ~1e-16 of their neighbours' rounding into such windows and marked them, M_ind > 0), windows where
    the positive and negative coincide (M_pos = M_neg: a tie, which goes to the positive) and equal
    products of different vote counts."""
    ori, pos, neg = _photo(0, 64)
    ori[:24, :24] = np.float32([120, 64, 200]) / 255  # a flat patch, shifted by 3 levels in the negative
    neg[:24, :24], pos[:24, :24] = np.float32([123, 67, 203]) / 255, ori[:24, :24]
    pos[30:50, 30:50] = neg[30:50, 30:50]  # identical windows: ties with equal votes
    pos[52:, 40:], neg[52:, 40:] = ori[52:, 40:], ori[52:, 40:]  # no residual at all, after busy windows
    ours, theirs = indication_map(ori, pos, neg, 2, 2), _theirs(get_overall_map, ori, pos, neg, 2, 2)
    _assert_same(ours, theirs)
    for flat in ((slice(1, 23), slice(1, 23)), (slice(53, 64), slice(41, 64))):
        assert (ours[1][flat] == 0).all() and (ours[2][flat] == 0).all()
    same = (slice(31, 49), slice(31, 49))
    assert (ours[0][same] == ours[1][same]).all() and (ours[1][same] > 0).any() and (ours[2][same] == 0).all()
    _assert_same(indication_map(ori, pos, neg, 3, 3), _theirs(get_overall_map, ori, pos, neg, 3, 3))
    _assert_same(indication_map(ori, pos, neg, 3, 2), _theirs(get_overall_map, ori, pos, neg, 3, 2))


def test_batched_torch_path_is_theirs_per_sample(get_overall_map):
    samples = [_photo(0, 48), _random(7, 48, 48), _photo(2, 48)]
    n_pos, n_neg, has_pos = [3, 2, 2], [2, 3, 2], [True, False, True]
    stack = lambda i: torch.cat([_t(s[i]) for s in samples])  # noqa: E731
    maps = indication_maps_torch(stack(0), stack(1), stack(2), torch.tensor(n_pos), torch.tensor(n_neg), torch.tensor(has_pos))
    for b, (ori, pos, neg) in enumerate(samples):
        ours = tuple(m[b, 0].numpy() for m in maps)
        _assert_same(ours, _theirs(get_overall_map, ori, pos if has_pos[b] else None, neg, n_pos[b], n_neg[b]),
                     without_positive=not has_pos[b])
