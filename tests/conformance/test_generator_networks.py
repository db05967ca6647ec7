"""hggt's Real-ISR generators against the authors' classes (PosNegGTSR/basicsr/archs), weights
copied across: SwinIR's padding (a whole extra window at multiples of the window) and stochastic
depth, RRDBPSNet / RRDBNet outputs, and the RRDB initialisation. Tiny widths, so the file runs in
seconds on a CPU; the paper's sizes only change widths and depths."""

from __future__ import annotations

import math

import pytest
import torch

from hggt.core.archs import build_generator
from hggt.core.archs.swinir import _drop_path
from hggt.core.presets import load_config

# Their SwinIR at the options of train_SwinIRGAN_PosNegGT_Blind_*_x4.yml except the widths and
# depths; their class fixes the upsampler width at 64.
SWIN = {"embed_dim": 24, "depths": (2, 2), "num_heads": (2, 2), "window_size": 8, "mlp_ratio": 2.0}
RRDB = {"channels": 8, "blocks": 2, "growth": 4}


def _their_swinir(ref, drop_path_rate=0.1):  # 0.1: their class's default; their configs do not set it
    arch = ref.module("basicsr.archs.swinir_arch")
    return arch.SwinIR(
        upscale=4, in_chans=3, img_size=16, window_size=SWIN["window_size"], img_range=1.0, depths=list(SWIN["depths"]),
        embed_dim=SWIN["embed_dim"], num_heads=list(SWIN["num_heads"]), mlp_ratio=SWIN["mlp_ratio"], upsampler="pixelshuffle",
        resi_connection="1conv", drop_path_rate=drop_path_rate,
    )


def _pair(ref, drop_path_rate=None, **ours_options):
    """Their SwinIR and ours (the paper's pad and drop path unless given) with their weights."""
    torch.manual_seed(0)
    rate = {} if drop_path_rate is None else {"drop_path_rate": drop_path_rate}
    theirs = _their_swinir(ref, **rate)
    ours = build_generator("swinir", **SWIN, num_feat=64, upsampler="pixelshuffle", img_size=16, **rate, **ours_options)
    ours.load_state_dict(theirs.state_dict())  # same names, strict: nothing renamed or left out
    return theirs, ours


@pytest.fixture(scope="module")
def swinir(ref):
    return _pair(ref)


def test_the_paper_preset_pads_and_drops_as_the_authors():
    swin = load_config("paper").train_sr.swinir
    assert (swin.pad, swin.drop_path_rate) == ("always", 0.1)


@pytest.mark.parametrize("size", [(16, 16), (13, 19), (64, 64)])
def test_swinir_eval_matches_theirs(swinir, size):
    """At multiples of the window (16, 64) theirs pads a whole extra window; at 13 x 19 both pad to 16 x 24."""
    theirs, ours = (m.eval() for m in swinir)
    torch.manual_seed(1)
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert got.shape == (1, 3, 4 * size[0], 4 * size[1])
    assert (got - expected).abs().max().item() < 1e-5


def test_swinir_pad_multiple_is_hggts_earlier_padding(ref, swinir):
    theirs = swinir[0].eval()
    _, multiple = _pair(ref, pad="multiple")
    multiple.eval()
    torch.manual_seed(1)
    at_multiple, between = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 13, 19)
    with torch.no_grad():
        assert (multiple(at_multiple) - theirs(at_multiple)).abs().max().item() > 1e-4  # no extra window: other border windows
        assert (multiple(between) - theirs(between)).abs().max().item() < 1e-5  # the same padding here


def test_swinir_drop_path_rates_rise_linearly_over_all_layers(swinir):
    theirs, ours = swinir
    their_rates = [getattr(b.drop_path, "drop_prob", 0.0) for layer in theirs.layers for b in layer.residual_group.blocks]
    our_rates = [b.drop_path for layer in ours.layers for b in layer.residual_group.blocks]
    assert our_rates == their_rates
    assert our_rates == pytest.approx([0.0, 0.1 / 3, 0.2 / 3, 0.1])


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_swinir_training_forward_drops_the_same_samples_as_theirs(ref, rate):
    """Our drop path makes their random draws in their order, so one torch seed gives both the same output."""
    theirs, ours = _pair(ref, drop_path_rate=rate)
    theirs.train(), ours.train()
    x = torch.rand(6, 3, 12, 12)
    with torch.no_grad():  # train mode still drops; no graph to build
        undropped = ours.eval()(x)
        ours.train()
        for seed in range(2):
            torch.manual_seed(seed)
            expected = theirs(x)
            torch.manual_seed(seed)
            got = ours(x)
            assert (got - expected).abs().max().item() < 1e-5
            changed = (got - undropped).abs().amax(dim=(1, 2, 3)) > 1e-4  # the samples that lost a branch somewhere
            assert changed.any() and (rate < 0.5 or changed.all())


def test_swinir_eval_is_deterministic_and_draws_nothing(swinir):
    ours = swinir[1].eval()
    x = torch.rand(2, 3, 16, 16)
    state = torch.get_rng_state()
    with torch.no_grad():
        first, second = ours(x), ours(x)
    assert torch.equal(first, second) and torch.equal(torch.get_rng_state(), state)


def test_drop_path_drops_a_rate_of_the_samples_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(200_000, 1, 1)
    out = _drop_path(x, 0.3, training=True)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - 0.3) < 0.005 and torch.allclose(out[out != 0], torch.tensor(1 / 0.7))
    assert abs(out.mean().item() - 1.0) < 0.01
    assert _drop_path(x, 0.3, training=False) is x and _drop_path(x, 0.0, training=True) is x


def _their_rrdb(ref, upsampler):
    arch = ref.module("basicsr.archs.rrdbnet_arch")
    cls = arch.RRDBPSNet if upsampler == "pixelshuffle" else arch.RRDBNet
    return cls(3, 3, scale=4, num_feat=RRDB["channels"], num_block=RRDB["blocks"], num_grow_ch=RRDB["growth"])


@pytest.mark.parametrize("upsampler", ["pixelshuffle", "nearest"])  # their RRDBPSNet (the paper's) and RRDBNet
def test_rrdb_matches_theirs_with_their_weights(ref, upsampler):
    torch.manual_seed(0)
    theirs = _their_rrdb(ref, upsampler).eval()
    ours = build_generator("rrdb", **RRDB, upsampler=upsampler).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.rand(2, 3, 13, 19)
    with torch.no_grad():
        assert (ours(x) - theirs(x)).abs().max().item() < 1e-5


@pytest.mark.parametrize("upsampler", ["pixelshuffle", "nearest"])
def test_rrdb_initialises_as_theirs_from_the_same_seed(ref, upsampler):
    """Same draws in the same order: one seed gives every tensor exactly the same value."""
    torch.manual_seed(3)
    theirs = _their_rrdb(ref, upsampler).state_dict()
    torch.manual_seed(3)
    ours = build_generator("rrdb", **RRDB, upsampler=upsampler).state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_rrdb_initial_weight_statistics_match_theirs(ref):
    """Per layer over seeds, at the paper's widths (64 channels, growth 32; one block): dense-block
    convolutions N(0, 0.1^2 * 2 / fan_in) with zero biases, the rest PyTorch's default."""
    def stats(build, seeds):
        out = {}
        for seed in seeds:
            torch.manual_seed(seed)
            for name, value in build().state_dict().items():
                out.setdefault(name, []).append(value.flatten())
        return {k: torch.cat(v) for k, v in out.items()}

    arch = ref.module("basicsr.archs.rrdbnet_arch")
    # Other seeds for each side: a comparison of distributions, not of one draw.
    theirs = stats(lambda: arch.RRDBPSNet(3, 3, scale=4, num_feat=64, num_block=1, num_grow_ch=32), (0, 1))
    ours = stats(lambda: build_generator("rrdb", blocks=1, channels=64, growth=32), (10, 11))
    assert ours.keys() == theirs.keys()
    for name, values in ours.items():
        if name.endswith(".weight"):  # thousands of values each: their std is known to about 1%
            assert values.std().item() == pytest.approx(theirs[name].std().item(), rel=0.05), name
            assert abs(values.mean().item()) < 0.1 * values.std().item(), name
        if ".rdb" in name and name.endswith(".weight"):
            fan_in = (64 + 32 * (int(name[-8]) - 1)) * 9  # conv{i}: 64 + 32 (i - 1) input channels
            assert values.std().item() == pytest.approx(0.1 * math.sqrt(2 / fan_in), rel=0.03), name
        elif ".rdb" in name:
            assert not values.any() and not theirs[name].any(), name  # zero biases, exactly
        elif name.endswith(".bias"):
            assert values.any() and theirs[name].any(), name  # PyTorch's default draws them
