"""The training recipe of the ``paper`` preset against the authors' configs and BasicSR code:
every schedule, batch, queue and EMA setting of their training configs; shuffled epochs as their
``EnlargedSampler`` and ``DataLoader(drop_last=True)`` give them; the EMA against their
``model_ema``; the training-pair pool against their ``_dequeue_and_enqueue`` given the same
permutations. Measured: 12 sets in batches of 5 give 2 batches (10 distinct sets, 2 dropped) per
epoch on both sides; 20,193 sets in batches of 12, 1,682 batches and 20,184 distinct sets. The
buffer option (16 held, one renewed every 2 iterations) reached 830 of the 20,193 sets in as many
draws and repeated a set within 1,677 of those 1,682 batches.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
import yaml

from hggt.core.archs import build_generator
from hggt.core.presets import load_config
from hggt.core.training.data import CropSampler
from hggt.core.training.ema import EMA
from hggt.core.training.pool import PairPool
from hggt.core.training.sampling import EpochSampler, make_sampler
from hggt.core.sr_runs import PSNR_START

REAL_ISR = {  # (arch, mode) -> their config
    ("rrdb", "psnr"): "train_RRDB_DF2K_OST_Blind_x4.yml", ("swinir", "psnr"): "train_SwinIR_DF2K_OST_Blind_x4.yml",
    **{(arch, mode): f"train_{name}GAN_PosNegGT_Blind_{tag}_x4.yml" for (arch, name), (mode, tag) in itertools.product(
        [("rrdb", "RRDB"), ("swinir", "SwinIR")], [("ori", "Ori"), ("pos", "Pos"), ("posneg", "Pos+Neg")])},
}
ENHANCERS = ("train_EnhanceRCAN_01.yml", "train_EnhanceRCAN_02.yml", "train_EnhanceELAN_03.yml", "train_EnhanceELAN_04.yml")


def _yml(path) -> dict:
    return yaml.safe_load(path.read_text())


def _check_schedule(ours, theirs: dict) -> None:
    train, data = theirs["train"], theirs["datasets"]["train"]
    assert ours.batch_size == data["batch_size_per_gpu"] and ours.gt_size == theirs["gt_size"] == data.get("gt_size", ours.gt_size)
    assert ours.pool_size == theirs["queue_size"] and ours.iterations == train["total_iter"]
    assert ours.lr == train["optim_g"]["lr"] and ours.betas == tuple(train["optim_g"]["betas"])
    assert "optim_d" not in train or (train["optim_d"]["lr"], tuple(train["optim_d"]["betas"])) == (ours.lr, ours.betas)
    assert ours.milestones == tuple(train["scheduler"]["milestones"]) and ours.lr_gamma == train["scheduler"]["gamma"]
    assert (ours.ema_decay or 0) == train["ema_decay"] and not ours.ema_warmup and train["warmup_iter"] == -1
    perceptual, gan = train.get("perceptual_opt"), train.get("gan_opt")
    assert ours.perceptual_weight == (perceptual["perceptual_weight"] if perceptual else 0)
    assert ours.gan_weight == (gan["loss_weight"] if gan else 0)
    if perceptual:
        assert ours.perceptual_layers == {k: float(v) for k, v in perceptual["layer_weights"].items()}
    assert not ours.amp and ours.sampling == "epochs" and data["dataset_enlarge_ratio"] == 1


@pytest.mark.parametrize("arch, mode", sorted(REAL_ISR))
def test_real_isr_recipe_is_their_config(ref, arch, mode):
    theirs = _yml(ref.path("options", "train", "PosNegGTSR", REAL_ISR[(arch, mode)]))
    _check_schedule(load_config("paper").train_sr.train_for(arch, mode), theirs)
    data = theirs["datasets"]["train"]
    assert (data["use_hflip"], data["use_rot"]) == (True, False)  # SampleStream: horizontal flips only
    if mode == "psnr":  # they start from bicubic-PSNR weights; hggt names the file it needs (psnr_init)
        assert theirs["path"]["pretrain_network_g"].rsplit("/", 1)[-1] in PSNR_START[arch]


@pytest.mark.parametrize("name", ENHANCERS)
def test_enhancer_recipe_is_their_config(ref_enhancement, name):
    theirs = _yml(ref_enhancement.path("options", "train", "EnhancementModels", name))
    _check_schedule(load_config("paper").enhancers.train, theirs)
    assert (theirs["datasets"]["train"]["use_hflip"], theirs["datasets"]["train"]["use_rot"]) == (True, True)  # dihedral


def test_their_inference_is_float32(ref):
    """No fp16/half key in any test config (the models' ``self.half`` is never set): evaluate and
    enhance default to float32 too."""
    for path in sorted(ref.path("options", "test").rglob("*.yml")):
        text = path.read_text()
        assert "fp16" not in text and "half" not in text, path
    cfg = load_config("paper")
    assert not cfg.evaluate.amp and not cfg.enhance.amp and not cfg.train_sr.train.amp


def _their_epochs(ref, count: int, batch: int, epochs: int, world: int = 1, rank: int = 0) -> list[list[list[int]]]:
    """Per epoch, the batches BasicSR's train.py feeds: EnlargedSampler + DataLoader(drop_last=True)."""
    sampler = ref.module("basicsr.data.data_sampler").EnlargedSampler(range(count), world, rank, 1)
    loader = torch.utils.data.DataLoader(range(count), batch_size=batch, sampler=sampler, drop_last=True)
    out = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        out.append([b.tolist() for b in loader])
    return out


def _our_epochs(count: int, batch: int, epochs: int, world: int = 1, rank: int = 0) -> list[list[list[int]]]:
    s = EpochSampler(count, lambda i: [], 8, seed=5, shard=(rank, world), prefetch_threads=0)
    out: list[list[list[int]]] = [[] for _ in range(epochs + 1)]
    while s.epoch < epochs:
        drawn = s.next_indices(batch)
        out[s.epoch - 1 if s.position == 0 else s.epoch].append(drawn)  # position 0: that batch ended its epoch
    return out[:epochs]


def _structure(epochs: list[list[list[int]]]) -> list[tuple]:
    return [(len(e), sorted(map(len, e)), all(len(set(b)) == len(b) for b in e), len({i for b in e for i in b}),
             len([i for b in e for i in b])) for e in epochs]


@pytest.mark.parametrize("count, batch", [(12, 5), (12, 4), (7, 7), (20193, 12)])
def test_epochs_visit_every_set_once_in_distinct_batches_as_basicsr(ref, count, batch):
    epochs = 2 if count > 1000 else 4
    theirs, ours = _their_epochs(ref, count, batch, epochs), _our_epochs(count, batch, epochs)
    assert _structure(ours) == _structure(theirs)
    assert _structure(ours)[0] == (count // batch, [batch] * (count // batch), True, count // batch * batch, count // batch * batch)
    assert ours[0] != ours[1]  # a new order every epoch


def test_ranks_share_each_epoch_as_basicsr(ref):
    # 11 sets on 2 ranks: the order is padded to 12 (one set twice) and each rank takes every other one.
    theirs = [_their_epochs(ref, 11, 3, 2, world=2, rank=r) for r in (0, 1)]
    ours = [_our_epochs(11, 3, 2, world=2, rank=r) for r in (0, 1)]
    for epoch in range(2):
        assert [_structure([o[epoch]]) for o in ours] == [_structure([t[epoch]]) for t in theirs]
        for side in (theirs, ours):
            assert {i for rank in side for b in rank[epoch] for i in b} == set(range(11))


def test_buffer_option_draws_with_replacement():
    count, batch = 12, 4
    buffer = make_sampler("buffer", count, lambda i: [np.zeros((8, 8, 3), np.uint8)], 8, 0, dihedral=False, buffer=4,
                          refresh_every=2)
    assert isinstance(buffer, CropSampler)
    draws = [[i for i, _ in buffer.sample_groups(batch)] for _ in range(count // batch * 10)]
    repeated = sum(len(set(b)) < len(b) for b in draws)
    per_epoch = [len({i for b in draws[k : k + 3] for i in b}) for k in range(0, len(draws), 3)]
    assert repeated > 0 and max(per_epoch) < count  # never every set in an epoch's worth of batches


def test_epoch_sampler_resumes_and_gives_whole_sets_or_crops():
    imgs = [np.arange(40 * 48 * 3, dtype=np.uint32).reshape(40, 48, 3).astype(np.uint8) + i for i in range(5)]
    a = EpochSampler(5, lambda i: [imgs[i], imgs[i] // 2], 16, seed=3, dihedral=False, cache=2, shard=(0, 1))
    whole = a.next_sets(2)
    for index, (hr, half) in whole:  # whole, and flipped (or not) together
        step = 1 if np.array_equal(hr, imgs[index]) else -1
        assert np.array_equal(hr, imgs[index][:, ::step]) and np.array_equal(half, (imgs[index] // 2)[:, ::step])
    crops = a.crop(whole)
    assert all(c[0].shape == (16, 16, 3) for _, c in crops)
    state = copy.deepcopy(a.state_dict())
    after = [a.sample(2) for _ in range(4)]
    b = EpochSampler(5, lambda i: [imgs[i], imgs[i] // 2], 16, seed=99, dihedral=False, shard=(0, 1))
    b.load_state_dict(state)
    assert all(np.array_equal(x, b.sample(2)) for x in after)
    with pytest.raises(ValueError, match="not of buffer sampling"):
        CropSampler(5, lambda i: [imgs[i]], 16, 2, 1, 0).load_state_dict(state)


def test_ema_is_their_model_ema(ref):
    base = ref.module("basicsr.models.base_model").BaseModel
    torch.manual_seed(0)
    net = build_generator("swinir", embed_dim=12, depths=(2,), num_heads=(2,), window_size=4, num_feat=8)
    theirs = base.__new__(base)
    theirs.net_g, theirs.net_g_ema = net, copy.deepcopy(net)
    ours, warm = EMA(net, 0.999), EMA(net, 0.999, warmup=True)
    g = torch.Generator().manual_seed(1)
    for step in range(5):
        with torch.no_grad():  # an optimizer step's worth of change
            for p in net.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
        theirs.model_ema(decay=0.999)
        ours.update(net, step)
        warm.update(net, step)
    their_state, our_state = theirs.net_g_ema.state_dict(), ours.model.state_dict()
    assert their_state.keys() == our_state.keys() and any(True for _ in net.buffers())
    assert all(torch.equal(their_state[k], our_state[k]) for k in their_state)  # bit-equal, buffers included
    assert not torch.equal(warm.model.state_dict()["conv_first.weight"], our_state["conv_first.weight"])
    assert load_config("demo").train_sr.train.ema_warmup and not load_config("paper").train_sr.train.ema_warmup


def test_pool_is_their_dequeue_and_enqueue(ref, monkeypatch):
    model = ref.module("basicsr.models.ours_model").Ours_Model
    theirs = model.__new__(model)
    theirs.queue_size = 8
    g = torch.Generator().manual_seed(2)
    perms = [torch.randperm(8, generator=g) for _ in range(6)]
    batches = [(torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 16, 16, generator=g)) for _ in range(10)]
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)  # their queue lives on the GPU
    order = iter(perms)
    monkeypatch.setattr(torch, "randperm", lambda n, *a, **k: next(order))
    their_out = []
    for lq, gt in batches:
        theirs.lq, theirs.gt = lq.clone(), gt.clone()
        theirs._dequeue_and_enqueue()
        their_out.append((theirs.lq, theirs.gt))
    order = iter(perms)
    pool = PairPool(8, seed=0)
    our_out = [pool(lq.clone(), gt.clone(), gt[:, :1].clone()) for lq, gt in batches]
    for (tl, tg), (ol, og, extra) in zip(their_out, our_out):
        assert torch.equal(tl, ol) and torch.equal(tg, og) and torch.equal(og[:, :1], extra)
    assert next(order, None) is None  # both drew the six permutations: once per batch after the pool filled
