"""Architectures and the GAN training stack: shapes, parameter counts, learning, exact resume,
pool, sampler, perceptual weights."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn as nn

from hggt.core.archs import build_generator, parameter_count
from hggt.core.archs.discriminator import UNetDiscriminator
from hggt.core.archs.vgg import WEIGHTS_FILE, resolve_vgg19_weights
from hggt.core.weights import WeightsMissing
from hggt.core.degradation.settings import SETTING_1
from hggt.core.enhancement import EnhancerBatches
from hggt.core.training.config import TrainConfig
from hggt.core.training.data import HRCropSampler, single_images
from hggt.core.training.ema import EMA
from hggt.core.training.sampling import EpochSampler
from hggt.core.training import stopping
from hggt.core.training.loop import restore, run_training
from hggt.core.training.stopping import TrainingStopped
from hggt.core.training.losses import PerceptualLoss
from hggt.core.training.pool import PairPool
from hggt.core.training.trainer import GANTrainer, seed_everything
from tests.photos import textured

TINY_RCAN = {"groups": 1, "blocks": 2, "channels": 16, "reduction": 4}
TINY_ELAN = {"blocks": 2, "channels": 24, "windows": (4, 8, 16), "expansion": 2, "shared_depth": 1}


def _expected_rcan_params(groups, blocks, c, r):
    conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731
    rcab = 2 * conv(c, c, 3) + conv(c, c // r, 1) + conv(c // r, c, 1)
    return conv(3, c, 3) + groups * (blocks * rcab + conv(c, c, 3)) + conv(c, c, 3) + conv(c, 3, 3)


def test_rcan_parameter_count_matches_its_structure():
    assert parameter_count(build_generator("rcan")) == _expected_rcan_params(10, 20, 64, 16) == 15_296_931
    assert parameter_count(build_generator("rcan", **TINY_RCAN)) == _expected_rcan_params(1, 2, 16, 4)


def _expected_elan_params(blocks, c, expansion, shared_depth):
    conv1 = lambda cin, cout: cin * cout + cout  # noqa: E731
    lfe = conv1(c, c * expansion) + conv1(c * expansion, c)
    gmsa_first = conv1(c, 2 * c) + 2 * (2 * c) + conv1(c, c)  # projection, batch norm, output
    gmsa_shared = conv1(c, c) + 2 * c + conv1(c, c)
    per_elab = (1 + shared_depth) * lfe + gmsa_first + shared_depth * gmsa_shared
    head_tail = (3 * c * 9 + c) + (c * 3 * 9 + 3)
    return head_tail + blocks // (1 + shared_depth) * per_elab


def test_elan_parameter_count_matches_its_structure():
    assert parameter_count(build_generator("elan")) == _expected_elan_params(36, 180, 2, 0) == 8_239_503  # n_share 0
    assert parameter_count(build_generator("elan", shared_depth=1)) == _expected_elan_params(36, 180, 2, 1) == 7_646_583
    assert parameter_count(build_generator("elan", **TINY_ELAN)) == _expected_elan_params(2, 24, 2, 1)


@pytest.mark.parametrize("arch, options", [("rcan", TINY_RCAN), ("elan", TINY_ELAN)])
@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 45, 61)])
def test_generators_keep_the_input_size(arch, options, shape):
    model = build_generator(arch, **options).eval()
    assert model(torch.rand(shape)).shape == shape


def test_discriminator_gives_one_logit_per_pixel_and_is_spectrally_normalised():
    d = UNetDiscriminator(channels=16)
    assert d(torch.rand(2, 3, 64, 48)).shape == (2, 1, 64, 48)
    normalised = [m for m in d.modules() if hasattr(m, "weight_orig")]
    assert len(normalised) == 8
    assert parameter_count(UNetDiscriminator()) == 4_376_897  # Real-ESRGAN's UNetDiscriminatorSN size


def test_pool_returns_the_first_batches_then_mixes_and_keeps_every_pair():
    pool = PairPool(size=6, seed=0)
    batches = [torch.arange(2 * i, 2 * i + 2).float().view(2, 1) for i in range(6)]
    out = [pool(b, b * 10)[0] for b in batches]
    assert torch.equal(out[0], batches[0]) and torch.equal(out[2], batches[2])
    later = torch.cat(out[3:]).flatten().tolist()
    assert set(later) <= set(range(12)) and later != list(range(6, 12))
    seen = set(torch.cat(out).flatten().tolist()) | set(pool.tensors[0].flatten().tolist())
    assert seen == set(range(12))  # nothing lost or duplicated
    a, b = pool(batches[0], batches[0] * 10)
    assert torch.equal(a * 10, b)  # pairs stay together


def _images(n=3):
    return [textured(90 + 7 * i, 110, seed=i) for i in range(n)]


def test_sampler_is_deterministic_and_resumable():
    imgs = _images(5)
    a = HRCropSampler(5, imgs.__getitem__, 32, buffer=2, refresh_every=1, seed=3)
    b = HRCropSampler(5, imgs.__getitem__, 32, buffer=2, refresh_every=1, seed=3)
    first = [a.sample(4) for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(first, [b.sample(4) for _ in range(3)]))
    state = a.state_dict()
    after = a.sample(4)
    c = HRCropSampler(5, imgs.__getitem__, 32, buffer=2, refresh_every=1, seed=99)
    c.load_state_dict(state)
    assert np.array_equal(c.sample(4), after)
    assert len({i for i in range(5) if i in c.buffer_ids}) == 2


def test_epoch_sampler_visits_every_image_once_per_epoch_and_resumes():
    imgs = _images(5)
    a = EpochSampler(5, single_images(imgs.__getitem__), 32, seed=3, cache=2)
    epochs = [[i for _ in range(2) for i in a.next_indices(2)] for _ in range(3)]  # 5 images, batches of 2: one dropped
    assert all(len(set(e)) == 4 for e in epochs) and len({tuple(e) for e in epochs}) == 3
    state = a.state_dict()
    after = [a.sample(2) for _ in range(3)]
    b = EpochSampler(5, single_images(imgs.__getitem__), 32, seed=99)
    b.load_state_dict(state)
    assert all(np.array_equal(x, b.sample(2)) for x in after)


def test_ema_decays_by_a_constant_unless_warmed_up():
    model = torch.nn.Linear(2, 2)
    assert [EMA(model, 0.999).decay_at(t) for t in (0, 5, 10_000)] == [0.999] * 3
    assert [EMA(model, 0.999, warmup=True).decay_at(t) for t in (0, 5, 10_000)] == [0.1, 6 / 15, 0.999]
    assert TrainConfig().ema_warmup is False and TrainConfig().amp is False and TrainConfig().sampling == "epochs"


def _trainer(seed=0, **cfg) -> tuple[GANTrainer, EnhancerBatches]:
    seed_everything(seed, deterministic=True)
    config = TrainConfig(**{"batch_size": 2, "gt_size": 32, "pool_size": 4, "perceptual_weight": 0.0, "log_every": 1,
                            "checkpoint_every": 3, "milestones": (4,), **cfg})
    imgs = _images()
    sampler = HRCropSampler(3, imgs.__getitem__, config.gt_size, buffer=2, refresh_every=2, seed=seed)
    trainer = GANTrainer(build_generator("rcan", **TINY_RCAN), UNetDiscriminator(channels=8), config, None, torch.device("cpu"), seed)
    return trainer, EnhancerBatches(sampler, SETTING_1, torch.device("cpu"))


def test_resume_gives_the_same_weights_as_an_uninterrupted_run():
    straight, data = _trainer()
    run_training(straight, data, 6)

    first, data1 = _trainer()
    saved = {}
    run_training(first, data1, 3, on_checkpoint=lambda it, state: saved.update(it=it, data=_to_bytes(state)))
    assert saved["it"] == 3
    second, data2 = _trainer(seed=123)  # fresh objects, different seeds: everything must come from the checkpoint
    restore(second, data2, torch.load(io.BytesIO(saved["data"]), weights_only=True))
    run_training(second, data2, 6)

    for key, value in straight.state_dict().items():
        if key in ("generator", "discriminator", "ema"):
            other = second.state_dict()[key]
            assert all(torch.equal(value[k], other[k]) for k in value), key
    assert straight.opt_g.param_groups[0]["lr"] == second.opt_g.param_groups[0]["lr"] == 0.5e-4


def test_a_stop_request_checkpoints_its_iteration_and_resuming_gives_the_uninterrupted_weights():
    straight, data = _trainer()
    run_training(straight, data, 6)

    first, data1 = _trainer()
    saved: dict[int, bytes] = {}
    with pytest.raises(TrainingStopped, match=r"stopped at iteration 2/6 \(SIGTERM\)") as stopped:
        run_training(first, data1, 6, on_checkpoint=lambda it, state: saved.update({it: _to_bytes(state)}),
                     should_stop=lambda: "SIGTERM" if first.iteration >= 2 else None)
    assert list(saved) == [2] and stopped.value.state == "stopped at 2/6 (SIGTERM)"  # not a checkpoint_every multiple
    assert stopping.state_in(str(stopped.value)) == "stopped at 2/6 (SIGTERM)"
    second, data2 = _trainer(seed=123)
    restore(second, data2, torch.load(io.BytesIO(saved[2]), weights_only=True))
    run_training(second, data2, 6)
    for key in ("generator", "discriminator", "ema"):
        ours, theirs = second.state_dict()[key], straight.state_dict()[key]
        assert all(torch.equal(theirs[k], ours[k]) for k in theirs), key


def _to_bytes(state) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def test_a_tiny_model_overfits_one_image():
    seed_everything(0, deterministic=True)
    config = TrainConfig(batch_size=1, gt_size=32, pool_size=0, perceptual_weight=0.0, gan_weight=0.0, lr=2e-3, ema_decay=None)
    trainer = GANTrainer(build_generator("rcan", **TINY_RCAN), UNetDiscriminator(channels=8), config, None, torch.device("cpu"), 0)
    gt = torch.from_numpy(textured(32, 32, seed=5)).permute(2, 0, 1)[None].float() / 255
    lq = torch.nn.functional.avg_pool2d(gt, 3, 1, 1)  # a blurred input to undo
    losses = [trainer.step(lq, gt)["l1"] for _ in range(150)]
    assert losses[-1] < 0.3 * losses[0]


def test_missing_vgg_weights_name_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    with pytest.raises(WeightsMissing) as info:
        resolve_vgg19_weights(None)
    message = str(info.value)
    assert WEIGHTS_FILE in message and str(tmp_path / "torch-home" / "hub" / "checkpoints") in message
    assert "perceptual_weight=0" in message


def test_perceptual_loss_loads_local_weights_and_compares_features(tmp_path, monkeypatch):
    from torchvision.models import vgg19

    torch.manual_seed(0)
    folder = tmp_path / "torch-home" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(vgg19(weights=None).state_dict(), folder / WEIGHTS_FILE)  # random weights: the loading path is what is tested
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    path = resolve_vgg19_weights(None)
    loss = PerceptualLoss({"conv1_2": 0.1, "conv3_4": 1.0}, str(path))
    x = torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == 0.0
    y = x + 0.1 * torch.randn_like(x)
    expected = 0.1 * nn.functional.l1_loss(loss.vgg(y)["conv1_2"], loss.vgg(x)["conv1_2"])
    expected = expected + nn.functional.l1_loss(loss.vgg(y)["conv3_4"], loss.vgg(x)["conv3_4"])
    assert loss(y, x).item() == pytest.approx(expected.item(), rel=1e-5)
    assert not any(p.requires_grad for p in loss.vgg.parameters())
    out = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss(out, x).backward()
    assert out.grad is not None and out.grad.abs().sum() > 0
