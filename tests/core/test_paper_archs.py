"""The `paper` preset's networks against the authors' code (ChrisDud0257/HGGT, BasicSR-based):
parameter counts and weight names measured by instantiating their arch classes at their configs'
options, ELAN's unscaled attention against a direct computation, the 255 input range, and
enhancer training without EMA."""

from __future__ import annotations

import functools
import inspect
import math

import pytest
import torch

from hggt.core.archs import build_generator, generator_from_payload, parameter_count
from hggt.core.archs.common import RGB_MEAN
from hggt.core.archs.discriminator import UNetDiscriminator
from hggt.core.archs.elan import GMSA
from hggt.core.presets import config_from_options, load_config
from hggt.core.enhancement import build_enhancer
from hggt.core.training.config import TrainConfig
from hggt.core.training.trainer import GANTrainer

# sum(p.numel() for p in net.parameters()) of the authors' classes, built with the network_g /
# network_d options of the named config files (ImageEnhancement/options/train/EnhancementModels/
# and PosNegGTSR/options/train/PosNegGTSR/ in their repository).
AUTHORS = [
    # train_EnhanceRCAN_01.yml, _02.yml: RCANNOUP, 10 groups x 20 blocks, 64 features, squeeze 16
    ("rcan", {}, 15_296_931),
    # train_EnhanceELAN_03.yml, _04.yml: ELAN m_elan 36, c_elan 180, n_share 0, r_expand 2. Their
    # total is 8,414,463: it also counts the fixed shift kernels of ShiftConv2d1 (nn.Parameters with
    # requires_grad=False, 36 x 9 x (180 + 360) = 174,960), which ours applies as index shifts.
    ("elan", {}, 8_239_503),
    # the same ELAN with n_share 1 (trainable parameters): hggt's earlier default
    ("elan", {"shared_depth": 1, "scaled_attention": True, "img_range": 1.0}, 7_646_583),
    # train_RRDBGAN_PosNegGT_Blind_{Ori,Pos,Pos+Neg}_x4.yml, train_RRDB_DF2K_OST_Blind_x4.yml: RRDBPSNet
    ("rrdb", {}, 16_919_555),
    # BasicSR's RRDBNet (ESRGAN, nearest+conv) at the same options
    ("rrdb", {"upsampler": "nearest"}, 16_697_987),
    # train_SwinIRGAN_PosNegGT_Blind_*_x4.yml: SwinIR embed 180, 6 x 6, window 8, mlp 2, pixelshuffle, 1conv
    ("swinir", {}, 11_900_199),
    # their SwinIR class at the same options with upsampler 'nearest+conv'
    ("swinir", {"upsampler": "nearest+conv"}, 11_715_559),
]
# UNetDiscriminatorSN (num_feat 64, skip_connection True) of the Real-ISR configs, and
# RealESRGANUNetDiscriminatorSN of the enhancer configs: both 4,376,897.
AUTHORS_DISCRIMINATOR = 4_376_897
TINY = {
    "rcan": {"groups": 1, "blocks": 1, "channels": 8, "reduction": 4}, "elan": {"blocks": 2, "channels": 24},
    "rrdb": {"blocks": 1, "channels": 8, "growth": 4}, "swinir": {"embed_dim": 12, "depths": (2,), "num_heads": (2,), "window_size": 4},
}


@functools.lru_cache(maxsize=None)
def _paper_net(arch: str, *overrides: tuple) -> torch.nn.Module:
    """A network at the `paper` preset's options (plus overrides), built once per test session:
    SwinIR's initialisation alone takes seconds on a busy CPU."""
    cfg = load_config("paper")
    sizes = {"rcan": cfg.enhancers.rcan, "elan": cfg.enhancers.elan, "rrdb": cfg.train_sr.rrdb, "swinir": cfg.train_sr.swinir}
    return build_generator(arch, **{**sizes[arch].model_dump(), **dict(overrides)})


@pytest.mark.parametrize("arch, options, expected", AUTHORS)
def test_the_paper_preset_builds_the_authors_networks(arch, options, expected):
    assert parameter_count(_paper_net(arch, *sorted(options.items()))) == expected


def test_the_discriminator_has_the_authors_size():
    assert parameter_count(UNetDiscriminator(load_config("paper").enhancers.train.discriminator_channels)) == AUTHORS_DISCRIMINATOR


@pytest.mark.parametrize("arch", ["rcan", "elan", "rrdb", "swinir"])
def test_the_paper_sizes_live_in_the_size_models_alone(arch):
    """The classes hold no second copy of the paper's sizes: build_generator fills what a caller
    leaves out from the size model, whose defaults the paper preset uses."""
    cfg = load_config("paper")
    sizes = {"rcan": cfg.enhancers.rcan, "elan": cfg.enhancers.elan, "rrdb": cfg.train_sr.rrdb, "swinir": cfg.train_sr.swinir}
    cls = type(build_generator(arch, **TINY[arch]))
    params = inspect.signature(cls.__init__).parameters
    assert all(params[k].default is inspect.Parameter.empty for k in type(sizes[arch]).model_fields)
    assert sizes[arch] == type(sizes[arch])()


def test_earlier_variants_stay_reachable_by_override():
    cfg = config_from_options("paper", [
        "enhancers.elan.shared_depth=1", "enhancers.elan.scaled_attention=true", "enhancers.elan.img_range=1",
        "enhancers.rcan.img_range=1", "train_sr.rrdb.upsampler=nearest", "train_sr.swinir.upsampler=nearest+conv",
        "enhancers.train.ema_decay=0.999",
    ])
    elan = build_enhancer("elan", cfg.enhancers)
    assert parameter_count(elan) == 7_646_583 and elan.input_range.img_range == 1.0
    assert build_enhancer("rcan", cfg.enhancers).input_range.img_range == 1.0
    assert (cfg.train_sr.rrdb.upsampler, cfg.train_sr.swinir.upsampler) == ("nearest", "nearest+conv")
    assert cfg.enhancers.train.ema_decay == 0.999
    with pytest.raises(ValueError, match="upsampler"):
        config_from_options("paper", ["train_sr.rrdb.upsampler=bilinear"])


# Keys and shapes of the authors' RRDBPSNet(3, 3, scale=4, num_feat=64, num_block=23, num_grow_ch=32)
# state_dict (702 tensors): these twelve, plus body.{0..22}.rdb{1,2,3}.conv{1..5} with
# conv_i taking 64 + 32 (i - 1) channels to 32 (conv5: to 64).
RRDBPSNET_OUTER = {
    "conv_first.weight": (64, 3, 3, 3), "conv_first.bias": (64,),
    "conv_body.weight": (64, 64, 3, 3), "conv_body.bias": (64,),
    "upsample.0.weight": (256, 64, 3, 3), "upsample.0.bias": (256,),
    "upsample.2.weight": (256, 64, 3, 3), "upsample.2.bias": (256,),
    "conv_hr.weight": (64, 64, 3, 3), "conv_hr.bias": (64,),
    "conv_last.weight": (3, 64, 3, 3), "conv_last.bias": (3,),
}
# Their SwinIR with upsampler 'pixelshuffle' (550 tensors, 534 under layers.): the reconstruction part.
SWINIR_PIXELSHUFFLE_TAIL = {
    "conv_before_upsample.0.weight": (64, 180, 3, 3), "conv_before_upsample.0.bias": (64,),
    "upsample.0.weight": (256, 64, 3, 3), "upsample.0.bias": (256,),
    "upsample.2.weight": (256, 64, 3, 3), "upsample.2.bias": (256,),
    "conv_last.weight": (3, 64, 3, 3), "conv_last.bias": (3,),
}


def test_pixelshuffle_rrdb_has_the_authors_rrdbpsnet_weight_names():
    expected = dict(RRDBPSNET_OUTER)
    for block in range(23):
        for rdb in (1, 2, 3):
            for i in range(1, 6):
                cin, cout = 64 + 32 * (i - 1), 64 if i == 5 else 32
                expected[f"body.{block}.rdb{rdb}.conv{i}.weight"] = (cout, cin, 3, 3)
                expected[f"body.{block}.rdb{rdb}.conv{i}.bias"] = (cout,)
    ours = {k: tuple(v.shape) for k, v in _paper_net("rrdb").state_dict().items()}
    assert len(expected) == 702 and ours == expected


def test_pixelshuffle_swinir_has_the_reference_upsampler_names():
    state = _paper_net("swinir").state_dict()
    assert len(state) == 550 and sum(k.startswith("layers.") for k in state) == 534
    tail = {k: tuple(v.shape) for k, v in state.items() if k.split(".")[0] in ("conv_before_upsample", "upsample", "conv_last")}
    assert tail == SWINIR_PIXELSHUFFLE_TAIL


def _direct_window_attention(feats: torch.Tensor, split: int, w: int, scale: float) -> torch.Tensor:
    """softmax(q q^T * scale) v, window by window, in float64 with an explicit exp / sum."""
    q, v = feats[:, :split].double(), feats[:, split:].double()
    out = torch.zeros_like(v)
    _, _, h, wd = v.shape
    for y in range(0, h, w):
        for x in range(0, wd, w):
            qw = q[0, :, y:y + w, x:x + w].reshape(split, -1).T  # positions in row-major order
            vw = v[0, :, y:y + w, x:x + w].reshape(split, -1).T
            logits = qw @ qw.T * scale
            e = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
            out[0, :, y:y + w, x:x + w] = ((e / e.sum(dim=1, keepdim=True)) @ vw).T.reshape(split, w, w)
    return out


@pytest.mark.parametrize("scaled", [False, True])
def test_elan_attention_is_softmax_of_q_q_transposed(scaled):
    torch.manual_seed(0)
    gmsa = GMSA(6, (4,), shift=False, computes_attention=True, scaled=scaled).eval()
    with torch.no_grad():
        gmsa.project_out.weight.copy_(torch.eye(6).view(6, 6, 1, 1))
        gmsa.project_out.bias.zero_()
        x = torch.randn(1, 6, 8, 12) * 2
        out, _ = gmsa(x, None)
        feats = gmsa.project_in(x)
    expected = _direct_window_attention(feats, 6, 4, 1 / math.sqrt(6) if scaled else 1.0)
    assert torch.allclose(out.double(), expected, atol=1e-5)
    other = _direct_window_attention(feats, 6, 4, 1.0 if scaled else 1 / math.sqrt(6))
    assert (out.double() - other).abs().max() > 1e-2  # the scaling matters at these magnitudes


def test_unscaled_attention_stays_float32_under_autocast():
    gmsa = GMSA(6, (4,), shift=False, computes_attention=True).eval()
    x = torch.randn(1, 6, 8, 8)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        _, attns = gmsa(x, None)
        feats = gmsa.project_in(x)
    assert attns[0].dtype == torch.float32
    q = feats[:, :6].float().view(1, 6, 2, 4, 2, 4).permute(0, 2, 4, 3, 5, 1).reshape(4, 16, 6)
    assert torch.allclose(attns[0], torch.softmax(q @ q.transpose(1, 2), dim=-1), atol=1e-6)


@pytest.mark.parametrize("img_range", [1.0, 255.0])
@pytest.mark.parametrize("arch, skips", [("rcan", 1), ("elan", 2)])  # ELABs' own skips make a zeroed body the identity
def test_input_range_scales_in_and_out(arch, skips, img_range):
    model = build_generator(arch, **TINY[arch], img_range=img_range).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for c in range(3):  # the head copies RGB into three channels; the tail reads them back
            model.head.weight[c, c, 1, 1] = 1.0
            model.tail.weight[c, c, 1, 1] = 1.0
        model.tail.bias.fill_(255.0)
        x = torch.rand(1, 3, 16, 16)
        mean = torch.tensor(RGB_MEAN).view(1, 3, 1, 1)
        # network sees (x - mean) * r, its output y leaves as y / r + mean
        expected = (skips * (x - mean) * img_range + 255.0) / img_range + mean
        assert torch.allclose(model(x), expected, atol=1e-4)


def test_model_files_without_the_new_options_keep_their_variant():
    torch.manual_seed(0)
    old = {"blocks": 1, "channels": 8, "growth": 4}
    nearest = build_generator("rrdb", **old, upsampler="nearest").eval()
    loaded = generator_from_payload({"arch": "rrdb", "options": old, "state_dict": nearest.state_dict()})
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(loaded(x), nearest(x))
    elan_old = {"blocks": 2, "channels": 24, "windows": (4, 8, 16), "expansion": 2, "shared_depth": 1}
    elan = build_generator("elan", **elan_old, scaled_attention=True, img_range=1.0)
    loaded = generator_from_payload({"arch": "elan", "options": elan_old, "state_dict": elan.state_dict()})
    assert loaded.input_range.img_range == 1.0 and loaded.body[0].gmsas[0].scaled
    # SwinIR files from before `pad` and `drop_path_rate`: padded to the next multiple, no stochastic depth
    swin_old = {**TINY["swinir"], "num_feat": 8, "upsampler": "pixelshuffle"}
    swin = build_generator("swinir", **swin_old, pad="multiple", drop_path_rate=0.0).eval()
    loaded = generator_from_payload({"arch": "swinir", "options": swin_old, "state_dict": swin.state_dict()})
    blocks = [b for layer in loaded.layers for b in layer.residual_group.blocks]
    assert loaded.pad == "multiple" and all(b.drop_path == 0.0 for b in blocks)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(loaded(x), swin(x))
    today = build_generator("swinir", **swin_old).eval()  # the authors' padding: an extra window at 8 x 8
    today.load_state_dict(swin.state_dict())
    assert not torch.allclose(today(x), swin(x), atol=1e-5)


def test_paper_enhancers_train_without_ema_and_with_the_authors_queue():
    train = load_config("paper").enhancers.train
    assert (train.ema_decay, train.pool_size, train.batch_size, train.gt_size) == (None, 40, 4, 96)
    assert (train.iterations, train.milestones) == (300_000, (200_000,))
    assert load_config("demo").enhancers.train.ema_decay is None
    assert load_config("paper").train_sr.train.ema_decay == 0.999  # the Real-ISR configs keep theirs


def _trainer(ema_decay):
    torch.manual_seed(0)
    cfg = TrainConfig(batch_size=1, gt_size=16, pool_size=0, perceptual_weight=0.0, ema_decay=ema_decay, lr=1e-2)
    return GANTrainer(build_generator("rcan", **TINY["rcan"]), UNetDiscriminator(8), cfg, None,
                      torch.device("cpu"), seed=0)


def test_training_without_ema_end_to_end():
    assert _trainer(0.0).ema is None  # BasicSR's ema_decay: 0 means no EMA too
    trainer = _trainer(None)
    lq, gt = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    trainer.step(lq, gt)
    model = trainer.inference_model()
    assert model is not trainer.G and not model.training and not any(p.requires_grad for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), trainer.G.state_dict().values()))
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.step(lq, gt)  # later steps leave the published copy alone
    assert all(torch.equal(snapshot[k], v) for k, v in model.state_dict().items())
    state = trainer.state_dict()
    assert state["ema"] is None
    resumed = _trainer(None)
    resumed.load_state_dict(state)
    assert resumed.iteration == 2 and torch.equal(resumed.G.tail.bias, trainer.G.tail.bias)
    with_ema = _trainer(0.999)  # switching EMA on at resume averages from the resumed weights
    with_ema.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(with_ema.ema.model.state_dict().values(), trainer.G.state_dict().values()))
