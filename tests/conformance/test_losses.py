"""hggt's Real-ISR losses against the authors' (SPEC section 9): the negative-GT term as their
``Ours_PosNegGT_Model.train_net_g`` books it (their method run on a stand-in ``self``: L1 with
``loss_weight: 300`` and mean reduction per sample on map-weighted SR and N*, ``-l / b`` summed over
the samples with a negative), their ``GANLoss`` (vanilla, weight 0.1 for the generator) and their
``PerceptualLoss`` (VGG19 pre-ReLU layers of their config, L1), values and gradients.
"""

from __future__ import annotations

import copy
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch

import hggt.core.archs.vgg as hggt_vgg
from hggt.core.maps import indication_maps_torch
from hggt.core.training.config import PAPER_PERCEPTUAL_LAYERS
from hggt.core.training.losses import PerceptualLoss, gan_loss, negative_gt_loss

ORI, POS, SIM, NEG = 0, 1, 2, 3  # their integer labels (posneggtposneg_dataset.py)
# per sample: labels of (original, 01..04) and effective vote counts; at most one positive and one
# negative each, so their random.choice has a single candidate
BATCH = [
    ([ORI, POS, NEG, SIM, SIM], [3, 3, 2, 1, 2]),  # positive and negative
    ([ORI, SIM, SIM, NEG, SIM], [3, 2, 1, 3, 2]),  # a negative without a positive: the original stands in
    ([ORI, SIM, POS, SIM, SIM], [3, 1, 2, 2, 1]),  # no negative: adds 0, still counts in the batch size
    ([ORI, NEG, SIM, POS, SIM], [3, 2, 1, 3, 1]),
]


def _images(seed=0, size=20):
    """(b, 5, 3, H, W) 8-bit images: the original and four versions that differ in places."""
    g = torch.Generator().manual_seed(seed)
    ori = torch.rand(len(BATCH), 1, 3, size, size, generator=g)
    noise = 0.3 * torch.randn(len(BATCH), 4, 3, size, size, generator=g) * (torch.rand(len(BATCH), 4, 1, size, size, generator=g) < 0.5)
    return (torch.cat([ori, ori + noise], 1).clamp(0, 1) * 255).round() / 255


def _theirs(ref, imgs, output, labels, counts):
    """Their negative term and its gradient wrt the SR output, from their train_net_g."""
    model = ref.module("basicsr.models.ours_posneggt_model").Ours_PosNegGT_Model
    L1Loss = ref.module("basicsr.losses.basic_loss").L1Loss
    me = types.SimpleNamespace(label_list=labels, label_num_list=counts, img_list=imgs, output=output,
                               cri_pix=L1Loss(1.0, "mean"), cri_neg=L1Loss(300.0, "mean"), l_g_total=0, loss_dict=OrderedDict(),
                               cri_perceptual=object(), cri_gan=object())  # non-None: their method leaves backward to the caller
    model.train_net_g(me)
    term = me.loss_dict.get("l_b_neg_total")
    if term is None:
        return torch.tensor(0.0), torch.zeros_like(output)
    return term.detach(), torch.autograd.grad(term, output)[0]


def _ours(imgs, output, labels, counts):
    """hggt's term as train-sr computes it: the batched maps, zero for samples without a negative."""
    pick = lambda row, label: int(np.flatnonzero(row == label)[0]) if (row == label).any() else None  # noqa: E731
    b = len(labels)
    pos_idx = [pick(labels[i], POS) for i in range(b)]
    neg_idx = [pick(labels[i], NEG) for i in range(b)]
    has_pos = torch.tensor([p is not None for p in pos_idx])
    has_neg = torch.tensor([n is not None for n in neg_idx])
    ori = imgs[:, 0]
    pos = torch.stack([imgs[i, p or 0] for i, p in enumerate(pos_idx)])
    neg = torch.stack([imgs[i, n] if n is not None else torch.zeros_like(ori[i]) for i, n in enumerate(neg_idx)])
    n_pos = torch.tensor([counts[i, p or 0] for i, p in enumerate(pos_idx)])
    n_neg = torch.tensor([counts[i, n] if n is not None else 0 for i, n in enumerate(neg_idx)])
    _, _, m_ind = indication_maps_torch(ori, pos, neg, n_pos, n_neg, has_pos)
    m_ind = m_ind * has_neg.view(-1, 1, 1, 1)
    term = negative_gt_loss(output, neg, m_ind, has_neg.float(), weight=300.0)
    return term.detach(), torch.autograd.grad(term, output)[0]


@pytest.mark.parametrize("rows", [[0, 1, 2, 3], [0, 3], [1, 2], [2]], ids=["mixed", "with-positives", "without-positive", "no-negative"])
def test_negative_term_is_their_train_net_g(ref, rows):
    imgs = _images()[rows]
    labels = np.array([BATCH[r][0] for r in rows])
    counts = np.array([BATCH[r][1] for r in rows], dtype=object)  # Python ints, as their queue hands them back
    g = torch.Generator().manual_seed(1)
    output = (imgs[:, 0] + 0.2 * torch.randn(imgs[:, 0].shape, generator=g)).requires_grad_(True)  # SR, unclamped
    their_value, their_grad = _theirs(ref, imgs, output, labels, counts)
    our_value, our_grad = _ours(imgs, output, labels, counts)
    assert our_value.item() == pytest.approx(their_value.item(), rel=1e-6, abs=1e-12)
    torch.testing.assert_close(our_grad, their_grad, rtol=1e-6, atol=1e-12)
    assert (their_value.item() < 0) == any(NEG in BATCH[r][0] for r in rows)


def test_gan_loss_is_their_vanilla_gan_loss(ref):
    GANLoss = ref.module("basicsr.losses.gan_loss").GANLoss
    theirs = GANLoss("vanilla", real_label_val=1.0, fake_label_val=0.0, loss_weight=0.1)  # their gan_opt
    logits = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(2), requires_grad=True)
    for real, disc in ((True, False), (True, True), (False, True)):
        weight = 1.0 if disc else 0.1  # trainer: gan_weight on the generator's term only
        ours, want = weight * gan_loss(logits, real=real), theirs(logits, real, is_disc=disc)
        torch.testing.assert_close(ours, want, rtol=1e-6, atol=0)
        torch.testing.assert_close(torch.autograd.grad(ours, logits)[0], torch.autograd.grad(want, logits)[0], rtol=1e-6, atol=1e-12)


def test_perceptual_loss_is_their_perceptual_loss(ref, monkeypatch, tmp_path):
    """Both take VGG19's ``features`` from torchvision; here the same seeded random ones (their
    pretrained file path does not exist, so they ask torchvision for ``pretrained=True``)."""
    import torchvision

    with torch.random.fork_rng():
        torch.manual_seed(3)
        features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    fake = lambda *a, **k: types.SimpleNamespace(features=copy.deepcopy(features), load_state_dict=lambda state: None)  # noqa: E731
    vgg_arch = ref.module("basicsr.archs.vgg_arch")
    monkeypatch.setattr(vgg_arch.vgg, "vgg19", fake)
    monkeypatch.setattr(hggt_vgg, "vgg19", fake)
    empty = tmp_path / "vgg19.pth"
    torch.save({}, empty)
    theirs = ref.module("basicsr.losses.basic_loss").PerceptualLoss(
        dict(PAPER_PERCEPTUAL_LAYERS), vgg_type="vgg19", use_input_norm=True, range_norm=False, perceptual_weight=1.0,
        style_weight=0.0, criterion="l1")
    ours = PerceptualLoss(PAPER_PERCEPTUAL_LAYERS, str(empty))
    g = torch.Generator().manual_seed(4)
    sr, gt = torch.rand(2, 3, 32, 32, generator=g, requires_grad=True), torch.rand(2, 3, 32, 32, generator=g)
    want, style = theirs(sr, gt)
    got = ours(sr, gt)
    assert style is None
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)
    torch.testing.assert_close(torch.autograd.grad(got, sr)[0], torch.autograd.grad(want, sr)[0], rtol=1e-5, atol=1e-10)
