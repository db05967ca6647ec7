"""Real-ISR generators, training data by mode, the negative-GT loss, a training step for every
arch and mode, and exact resume with the negative GT in the pool."""

from __future__ import annotations

import io
from collections import Counter

import numpy as np
import pytest
import torch

from hggt.core.archs import build_generator, parameter_count
from hggt.core.archs.discriminator import UNetDiscriminator
from hggt.core.degradation.settings import TABLE_2
from hggt.core.realisr import MODES, SRBatches, draw_versions
from hggt.core.training.config import TrainConfig
from hggt.core.training.losses import negative_gt_loss
from hggt.core.training.loop import restore, run_training
from hggt.core.training.trainer import GANTrainer, seed_everything
from tests.photos import textured

TINY = {"rrdb": {"blocks": 1, "channels": 8, "growth": 4},
        "swinir": {"embed_dim": 12, "depths": (2,), "num_heads": (2,), "window_size": 4, "num_feat": 8}}


def _swinir_params(d, depths, heads, w, ratio, f, upsampler="pixelshuffle"):
    lin = lambda i, o: i * o + o  # noqa: E731
    conv = lambda i, o: i * o * 9 + o  # noqa: E731
    block = lambda h: 2 * d + (2 * w - 1) ** 2 * h + lin(d, 3 * d) + lin(d, d) + 2 * d + lin(d, int(d * ratio)) + lin(int(d * ratio), d)  # noqa: E731
    rstbs = sum(n * block(h) + conv(d, d) for n, h in zip(depths, heads))
    up = 2 * conv(f, 4 * f) if upsampler == "pixelshuffle" else 3 * conv(f, f)
    return conv(3, d) + 2 * d + rstbs + 2 * d + conv(d, d) + conv(d, f) + up + conv(f, 3)


def test_parameter_counts():
    # The authors' numbers (their configs) are checked in test_paper_archs.py; here the structure.
    assert parameter_count(build_generator("rrdb")) == 16_919_555  # the authors' RRDBPSNet x4 (pixel shuffle)
    assert parameter_count(build_generator("rrdb", upsampler="nearest")) == 16_697_987  # ESRGAN's RRDBNet x4
    assert parameter_count(build_generator("swinir")) == _swinir_params(180, [6] * 6, [6] * 6, 8, 2.0, 64) == 11_900_199
    nearest = build_generator("swinir", upsampler="nearest+conv")
    assert parameter_count(nearest) == _swinir_params(180, [6] * 6, [6] * 6, 8, 2.0, 64, "nearest+conv") == 11_715_559
    assert parameter_count(build_generator("swinir", **TINY["swinir"])) == _swinir_params(12, [2], [2], 4, 2.0, 8)


@pytest.mark.parametrize("arch, upsampler", [
    ("rrdb", "pixelshuffle"), ("rrdb", "nearest"), ("swinir", "pixelshuffle"), ("swinir", "nearest+conv"),
])
@pytest.mark.parametrize("shape", [(1, 3, 16, 16), (2, 3, 13, 18)])
def test_generators_upscale_by_four(arch, upsampler, shape):
    model = build_generator(arch, **TINY[arch], upsampler=upsampler).eval()
    b, c, h, w = shape
    assert model(torch.rand(shape)).shape == (b, c, 4 * h, 4 * w)


def _sets():
    return [
        {"set_id": "a", "positive": [("01", 3), ("02", 2)], "negative": [("03", 2)]},
        {"set_id": "b", "positive": [], "negative": [("04", 3)]},
        {"set_id": "c", "positive": [("02", 2)], "negative": []},
    ]


def _load(set_id, files):
    # each version is the original plus a constant offset that identifies it
    base = textured(80, 80, seed=ord(set_id)).astype(np.int16)
    offsets = {"original": 0, "01": 10, "02": 20, "03": -30, "04": -40}
    return [np.clip(base + offsets[f], 0, 255).astype(np.uint8) for f in files]


def _batches(mode, seed=0):
    # pos trains only on the sets with a positive (training_sets chooses them, as the authors' PosNegGTPosDataset)
    sets = [s for s in _sets() if mode != "pos" or s["positive"]]
    return SRBatches(sets, _load, mode, 32, 4, TABLE_2, torch.device("cpu"), 3, 1, seed)


@pytest.mark.parametrize("mode", MODES)
def test_the_lq_input_always_comes_from_the_original(mode):
    """Versions differ from the original by constant offsets (+10, +20, -30, -40 levels), so the
    mean of the LQ input tells which image it was made from."""
    data = _batches(mode, 2)
    state = data.state_dict()
    groups = data.sampler.sample_groups(8)
    data.load_state_dict(state)
    batch = data.next_batch(8)
    lq, gt = batch[0], batch[1]
    assert lq.shape == (8, 3, 8, 8) and gt.shape == (8, 3, 32, 32)
    for i, (_, crops) in enumerate(groups):
        assert abs(float(lq[i].mean()) - crops[0].mean() / 255) < 5 / 255


def test_pos_always_trains_on_a_positive():
    data = _batches("pos", 3)
    files = data.files
    assert files == [["original", "01", "02"], ["original", "02"]]
    rng_state = data.state_dict()
    groups = data.sampler.sample_groups(8)
    data.load_state_dict(rng_state)
    _, gt = data.next_batch(8)
    for (index, crops), g in zip(groups, gt):
        g8 = np.round(g.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        matches = [f for f, c in zip(files[index], crops) if np.array_equal(c, g8)]
        assert matches and "original" not in matches
    with pytest.raises(ValueError, match="set b has no positive version"):
        SRBatches(_sets(), _load, "pos", 32, 4, TABLE_2, torch.device("cpu"), 3, 1, 0).next_batch(8)


def test_ori_always_trains_on_the_original():
    data = _batches("ori", 4)
    state = data.state_dict()
    groups = data.sampler.sample_groups(8)
    data.load_state_dict(state)
    _, gt = data.next_batch(8)
    for (_, crops), g in zip(groups, gt):
        assert np.array_equal(np.round(g.permute(1, 2, 0).numpy() * 255).astype(np.uint8), crops[0])


def test_posneg_carries_the_negative_and_its_map():
    data = _batches("posneg", 5)
    lq, gt, neg, m_ind, has_neg = data.next_batch(12)
    assert neg.shape == gt.shape and m_ind.shape == (12, 1, 32, 32) and has_neg.shape == (12,)
    assert set(has_neg.tolist()) == {0.0, 1.0}
    for i in range(12):
        if has_neg[i] == 0:
            assert (m_ind[i] == 0).all() and (neg[i] == 0).all()
        else:
            assert m_ind[i].max() > 0


def test_negative_loss_pushes_away_from_the_negative_only_where_indicated():
    torch.manual_seed(0)
    neg = torch.rand(2, 3, 16, 16)
    m_ind = torch.zeros(2, 1, 16, 16)
    m_ind[:, :, :8] = 0.5  # the top half is indicated
    sr = torch.rand(2, 3, 16, 16)
    has = torch.tensor([1.0, 1.0])
    base = negative_gt_loss(sr, neg, m_ind, has)
    toward = sr.clone()
    toward[:, :, :8] = 0.5 * (sr[:, :, :8] + neg[:, :, :8])  # halfway to N* where M_ind > 0
    assert negative_gt_loss(toward, neg, m_ind, has) > base
    elsewhere = sr.clone()
    elsewhere[:, :, 8:] = neg[:, :, 8:]  # all the way to N* where M_ind = 0
    assert torch.equal(negative_gt_loss(elsewhere, neg, m_ind, has), base)
    expected = -300 * (m_ind * (sr - neg)).abs().mean(dim=(1, 2, 3)).sum() / 2
    assert torch.allclose(base, expected)


def test_a_sample_without_a_negative_adds_exactly_zero():
    sr, neg, m_ind = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8), torch.rand(3, 1, 8, 8)
    with_third = negative_gt_loss(sr, neg, m_ind, torch.tensor([1.0, 1.0, 1.0]))
    without = negative_gt_loss(sr, neg, m_ind, torch.tensor([1.0, 1.0, 0.0]))
    third = -300 * (m_ind[2] * (sr[2] - neg[2])).abs().mean() / 3
    assert torch.allclose(with_third - without, third)
    assert negative_gt_loss(sr, neg, m_ind, torch.zeros(3)).item() == 0.0


def _trainer(arch, mode, seed=0):
    seed_everything(seed, deterministic=True)
    cfg = TrainConfig(batch_size=2, gt_size=32, pool_size=4, perceptual_weight=0.0, log_every=1, checkpoint_every=2,
                      milestones=(3,), gan_weight=0.0 if mode == "psnr" else 0.1)
    trainer = GANTrainer(build_generator(arch, **TINY[arch]), UNetDiscriminator(channels=8), cfg, None, torch.device("cpu"), seed)
    kwargs = {}
    if mode == "posneg":
        kwargs["extra_loss"] = lambda out, more: negative_gt_loss(out, *more)
    return trainer, _batches(mode, seed), kwargs


@pytest.mark.parametrize("arch", ["rrdb", "swinir"])
@pytest.mark.parametrize("mode", MODES)
def test_one_training_step_for_every_arch_and_mode(arch, mode):
    trainer, data, kwargs = _trainer(arch, mode)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    logs = trainer.step(*data.next_batch(2), **kwargs)
    assert np.isfinite(logs["total"]) and ("extra" in logs) == (mode == "posneg") and ("gan" in logs) == (mode != "psnr")
    assert any(not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items())


def test_posneg_resume_gives_the_same_weights():
    straight, data, kwargs = _trainer("rrdb", "posneg")
    run_training(straight, data, 4, step_kwargs=kwargs)
    first, data1, kwargs1 = _trainer("rrdb", "posneg")
    saved = {}

    def keep(it, state):
        if it == 2:
            buf = io.BytesIO()
            torch.save(state, buf)
            saved["state"] = buf.getvalue()

    run_training(first, data1, 2, on_checkpoint=keep, step_kwargs=kwargs1)
    second, data2, kwargs2 = _trainer("rrdb", "posneg", seed=9)
    restore(second, data2, torch.load(io.BytesIO(saved["state"]), weights_only=True))
    run_training(second, data2, 4, step_kwargs=kwargs2)
    for key in ("generator", "discriminator", "ema"):
        a, b = straight.state_dict()[key], second.state_dict()[key]
        assert all(torch.equal(a[k], b[k]) for k in a), key


def test_the_clamped_negative_term_is_bounded_outside_the_image_range():
    neg, m_ind, has = torch.full((1, 3, 4, 4), 0.2), torch.ones(1, 1, 4, 4), torch.ones(1)
    at_edge = negative_gt_loss(torch.ones(1, 3, 4, 4), neg, m_ind, has, clamp=True)
    beyond = torch.full((1, 3, 4, 4), 50.0, requires_grad=True)
    loss = negative_gt_loss(beyond, neg, m_ind, has, clamp=True)
    assert torch.equal(loss, at_edge) and loss.item() == pytest.approx(-300 * 0.8)
    loss.backward()
    assert (beyond.grad == 0).all()  # no reward for leaving the range any further


def test_the_authors_negative_term_uses_sr_unclamped():
    neg, m_ind, has = torch.full((1, 3, 4, 4), 0.2), torch.ones(1, 1, 4, 4), torch.ones(1)
    beyond = torch.full((1, 3, 4, 4), 50.0, requires_grad=True)
    loss = negative_gt_loss(beyond, neg, m_ind, has)
    assert loss.item() == pytest.approx(-300 * 49.8)  # -300 * |50 - 0.2|: unbounded below, as the reference code
    loss.backward()
    assert torch.allclose(beyond.grad, torch.full_like(beyond, -300 / 48))  # d/dx of -300 * mean|x - n| over 48 values


def test_the_map_positive_is_drawn_independently_of_the_target():
    entry = {"positive": [("01", 3), ("02", 2)], "negative": [("03", 2)]}
    rng = np.random.default_rng(0)
    draws = [draw_versions(entry, "posneg", "independent", rng) for _ in range(4000)]
    pairs = Counter((t[0], p[0]) for t, p, _ in draws)
    for pair in [("01", "01"), ("01", "02"), ("02", "01"), ("02", "02")]:
        assert abs(pairs[pair] / 4000 - 0.25) < 0.03, pairs  # two independent uniform draws
    assert all(dict(entry["positive"])[p[0]] == p[1] and n == ("03", 2) for _, p, n in draws)
    same = [draw_versions(entry, "posneg", "target", rng) for _ in range(200)]
    assert all(t == p for t, p, _ in same)
    alone = {"positive": [], "negative": [("04", 3)]}
    assert draw_versions(alone, "posneg", "independent", rng) == (("original", 0), ("original", 0), ("04", 3))
    assert draw_versions(entry, "pos", "independent", rng)[2] is None


@pytest.mark.parametrize("mode", ["ori", "posneg"])
def test_batch_synthesis_degrades_whole_patches_then_crops_them_at_one_position(mode):
    """The authors' feed_data order: the whole 80x80 originals degraded with one batch draw, then
    one crop for the LQ and every GT image. Recomputed here from the whole sets the stream gives
    (batch_synthesis itself is checked against their code in tests/conformance)."""
    from hggt.core.degradation import batch_synthesis

    sets = [s for s in _sets() if mode != "pos" or s["positive"]]
    data = SRBatches(sets, _load, mode, 32, 4, TABLE_2, torch.device("cpu"), 3, 1, 7, synthesis="batch")
    state = data.state_dict()
    whole = data.stream.next_whole(4)
    after_versions = data.sampler.rng.bit_generator.state
    data.load_state_dict(state)
    batch = data.next_batch(4)
    lq, gt = batch[0], batch[1]
    assert lq.shape == (4, 3, 8, 8) and gt.shape == (4, 3, 32, 32)
    rng = np.random.default_rng()
    rng.bit_generator.state = after_versions
    draw = batch_synthesis.draw_batch(TABLE_2, 4, rng)
    stack = lambda key: torch.from_numpy(  # noqa: E731
        np.stack([np.ascontiguousarray(s[key] if s[key] is not None else np.zeros_like(s["ori"])) for s in whole])
    ).permute(0, 3, 1, 2).float() / 255
    full = batch_synthesis.synthesize(stack("ori"), draw, 4)
    top, left = data.last_crop
    assert full.shape == (4, 3, 20, 20) and torch.equal(lq, full[..., top : top + 8, left : left + 8])
    assert torch.equal(gt, stack("gt")[..., 4 * top : 4 * top + 32, 4 * left : 4 * left + 32])
    if mode == "posneg":
        neg = batch[2]
        for i, s in enumerate(whole):
            if s["neg"] is not None:
                assert torch.equal(neg[i], stack("neg")[i, :, 4 * top : 4 * top + 32, 4 * left : 4 * left + 32])
