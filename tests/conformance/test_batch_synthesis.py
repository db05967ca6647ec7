"""hggt's per-batch LQ synthesis (``hggt.core.degradation.batch_synthesis``) against the reference.

The reference's Real-ISR models build each LQ batch in ``feed_data``. Here their ``feed_data`` itself
runs (on a minimal stand-in for the model object) with every random draw forced to the values of
a hggt ``BatchDraw``: ``random.choices`` / ``np.random.uniform`` / ``random.choice`` of the model
module, the per-sample sigma/scale/gray draws of their noise functions, the JPEG qualities, the
crop position, and the noise tensors (torch's global generator seeded with ``draw.noise_seed``,
which hggt's generator reproduces). The LQ batches must be identical: every resize direction and
mode, Gaussian and Poisson noise, mixed gray/colour batches and colour-only batches, the Ori, Pos
and Pos+Neg models, a batch of one. ``draw_batch``'s statistics are checked separately.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from hggt.core.degradation.batch_synthesis import BatchDraw, add_noise, draw_batch, paired_crop, synthesize
from hggt.core.degradation.settings import TABLE_2_REFERENCE

SETTINGS = TABLE_2_REFERENCE
SCALE, GT, GT_CROP = 4, 64, 32
# the reference configs' keys (train_*GAN_PosNegGT_Blind_*_x4.yml), from the same settings
OPT = {
    "scale": SCALE,
    "gt_size": GT_CROP,
    "resize_prob": [SETTINGS.resize_probabilities[2], SETTINGS.resize_probabilities[0], SETTINGS.resize_probabilities[1]],
    "resize_range": list(SETTINGS.resize_range),
    "gaussian_noise_prob": SETTINGS.gaussian_noise_probability,
    "noise_range": list(SETTINGS.noise_sigma_range),
    "poisson_scale_range": list(SETTINGS.poisson_scale_range),
    "gray_noise_prob": SETTINGS.gray_noise_probability,
    "jpeg_range": list(SETTINGS.jpeg_range),
}
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]
THEIR_DIRECTION = {"up": "up", "down": "down", "same": "keep"}
MODELS = {
    "pos+neg": ("basicsr.models.ours_posneggt_model", "Ours_PosNegGT_Model"),
    "pos": ("basicsr.models.ours_posgt_model", "Ours_PosGT_Model"),
    "ori": ("basicsr.models.ours_model", "Ours_Model"),
}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # tiny tensors: with the CPUs shared, thread hand-offs cost more than the work
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(ref):
    """Their model classes and the modules whose draws the tests force."""
    ref.activate()
    # Their basicsr/__init__ files, which the loader does not run, would export these names;
    # the model modules import them from the packages. Set only where nothing else has.
    utils = sys.modules["basicsr.utils"]
    diffjpeg = ref.module("basicsr.utils.diffjpeg")
    img_process = ref.module("basicsr.utils.img_process_util")
    img_util = ref.module("basicsr.utils.img_util")
    exports = {
        utils: {"DiffJPEG": diffjpeg.DiffJPEG, "USMSharp": img_process.USMSharp, "imwrite": img_util.imwrite, "tensor2img": img_util.tensor2img},
        sys.modules["basicsr.archs"]: {"build_network": _unused("build_network")},
        sys.modules["basicsr.losses"]: {"build_loss": _unused("build_loss")},
        sys.modules["basicsr.metrics"]: {"calculate_metric": _unused("calculate_metric")},
    }
    for package, names in exports.items():
        for name, value in names.items():
            if not hasattr(package, name):
                setattr(package, name, value)
    classes = {key: getattr(ref.module(module), cls) for key, (module, cls) in MODELS.items()}
    return types.SimpleNamespace(
        classes=classes,
        DiffJPEG=diffjpeg.DiffJPEG,
        degradations=ref.module("basicsr.data.degradations"),
        transforms=ref.module("basicsr.data.transforms"),
        filter2D=img_process.filter2D,
        model_modules={key: sys.modules[module] for key, (module, _) in MODELS.items()},
    )


def _unused(name):
    def fail(*args, **kwargs):
        raise AssertionError(f"{name} is not part of feed_data")

    return fail


def _gt_stack(batch: int, seed: int) -> torch.Tensor:
    """(B, 5, 3, GT, GT): smooth photo-like originals with texture, and four versions."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch * 5, 3, 9, 9, generator=g)
    smooth = F.interpolate(coarse, size=(GT, GT), mode="bicubic", align_corners=False)
    img = (smooth + 0.05 * torch.randn(smooth.shape, generator=g)).clamp(0, 1)
    return (torch.round(img * 255) / 255).view(batch, 5, 3, GT, GT)


def _draw(direction: str, mode: str, noise: str, gray: tuple[bool, ...], seed: int) -> BatchDraw:
    """A draw from draw_batch with the per-batch choices and gray flags set as the test needs."""
    rng = np.random.default_rng(seed)
    base = draw_batch(SETTINGS, len(gray), rng)
    scale = {"down": float(rng.uniform(SETTINGS.resize_range[0], 1)), "up": float(rng.uniform(1, SETTINGS.resize_range[1])), "same": 1.0}[direction]
    strengths = tuple(float(np.float32(v)) for v in rng.uniform(0.3, 1.0, len(gray)))
    sigma = tuple(SETTINGS.noise_sigma_range[1] * s for s in strengths) if noise == "gaussian" else (0.0,) * len(gray)
    pscale = tuple(SETTINGS.poisson_scale_range[1] * s for s in strengths) if noise == "poisson" else (0.0,) * len(gray)
    return dataclasses.replace(
        base, resize_direction=direction, resize_scale=scale, resize_mode=mode, noise_type=noise,
        noise_sigma=tuple(float(np.float32(v)) for v in sigma), poisson_scale=tuple(float(np.float32(v)) for v in pscale), gray_noise=gray,
    )


class _Scripted:
    """Stands in for one random function: checks its arguments, returns the forced value."""

    def __init__(self, name: str, answers: list):
        self.name, self.answers = name, list(answers)

    def __call__(self, *args, **kwargs):
        assert self.answers, f"unexpected extra call {self.name}{args}"
        check, value = self.answers.pop(0)
        assert check(*args, **kwargs), f"{self.name} called with {args} {kwargs}"
        return value

    def done(self):
        assert not self.answers, f"{self.name}: expected calls that never came: {self.answers}"


def _run_theirs(reference, model: str, monkeypatch, draw: BatchDraw, img_list: torch.Tensor, crop: tuple[int, int], device: str = "cpu"):
    """Their feed_data on a stand-in model whose every random draw is forced to ``draw``."""
    module = reference.model_modules[model]
    direction = THEIR_DIRECTION[draw.resize_direction]
    choices = _Scripted("random.choices", [(lambda pop, w: pop == ["up", "down", "keep"] and w == OPT["resize_prob"], [direction])])
    choice = _Scripted("random.choice", [(lambda pop: pop == ["area", "bilinear", "bicubic"], draw.resize_mode)])
    uniform_answers = []
    if direction == "up":
        uniform_answers.append((lambda lo, hi: (lo, hi) == (1, OPT["resize_range"][1]), draw.resize_scale))
    elif direction == "down":
        uniform_answers.append((lambda lo, hi: (lo, hi) == (OPT["resize_range"][0], 1), draw.resize_scale))
    # Gaussian when the draw is below gaussian_noise_prob
    uniform_answers.append((lambda: True, 0.0 if draw.noise_type == "gaussian" else 1.0))
    uniform = _Scripted("np.random.uniform", uniform_answers)
    monkeypatch.setattr(module, "random", types.SimpleNamespace(choices=choices, choice=choice))
    monkeypatch.setattr(module, "np", types.SimpleNamespace(random=types.SimpleNamespace(uniform=uniform)))

    deg = reference.degradations
    b = draw.batch_size
    gray = torch.tensor(draw.gray_noise, dtype=torch.float32, device=device)

    def sigmas(rng_range, gray_prob, values):
        assert list(rng_range) == (OPT["noise_range"] if draw.noise_type == "gaussian" else OPT["poisson_scale_range"])
        assert gray_prob == OPT["gray_noise_prob"]
        return torch.tensor(values, dtype=torch.float32, device=device)

    monkeypatch.setattr(deg, "random_generate_gaussian_noise_pt", lambda img, sigma_range, gray_prob: deg.generate_gaussian_noise_pt(img, sigmas(sigma_range, gray_prob, draw.noise_sigma), gray.clone()))
    monkeypatch.setattr(deg, "random_generate_poisson_noise_pt", lambda img, scale_range, gray_prob: deg.generate_poisson_noise_pt(img, sigmas(scale_range, gray_prob, draw.poisson_scale), gray.clone()))
    randint = _Scripted("random.randint", [(lambda lo, hi: lo == 0, crop[0]), (lambda lo, hi: lo == 0, crop[1])])
    monkeypatch.setattr(reference.transforms, "random", types.SimpleNamespace(randint=randint))

    real_jpeger = reference.DiffJPEG(differentiable=False).to(device)  # also moves their shared tables

    def jpeger(out, quality):
        assert quality.shape == (b,)
        return real_jpeger(out, quality=torch.tensor(draw.jpeg_quality, dtype=torch.float32, device=device))

    stand_in = types.SimpleNamespace(opt=dict(OPT), device=torch.device(device), jpeger=jpeger, _dequeue_and_enqueue=lambda: None)
    if model == "ori":
        data = {"kernel1": draw.kernels.clone(), "gt": img_list[:, 0].clone()}
    else:
        data = {"kernel1": draw.kernels.clone(), "img_list": img_list.clone(), "label_list": torch.zeros(b, 4), "label_num_list": torch.zeros(b, 3)}
    torch.manual_seed(draw.noise_seed)
    reference.classes[model].feed_data(stand_in, data)
    for scripted in (choices, choice, uniform, randint):
        scripted.done()
    gts = stand_in.gt if model == "ori" else stand_in.img_list
    return stand_in.lq, gts


def _run_ours(draw: BatchDraw, img_list: torch.Tensor, crop_seed: int, model: str):
    """(full LQ, cropped LQ, cropped GTs, crop position) on ``img_list``'s device."""
    lq = synthesize(img_list[:, 0], draw, SCALE)
    gts = img_list[:, 0] if model == "ori" else img_list
    gts, lq_crop, pos = paired_crop(gts, lq, GT_CROP, SCALE, np.random.default_rng(crop_seed))
    return lq, lq_crop, gts, pos


CASES = [(d, m, n) for d in ("down", "up", "same") for m in ("area", "bilinear", "bicubic") for n in ("gaussian", "poisson")]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("direction", "mode", "noise"), CASES, ids=["-".join(c) for c in CASES])
def test_lq_matches_reference_feed_data(reference, monkeypatch, direction, mode, noise, device):
    seed = CASES.index((direction, mode, noise))
    draw = _draw(direction, mode, noise, gray=(True, False, False, True), seed=seed)
    img_list = _gt_stack(4, seed)
    lq_full, lq, gts, pos = _run_ours(draw, img_list.to(device), seed, "pos+neg")
    assert lq.device.type == device
    their_lq, their_gts = _run_theirs(reference, "pos+neg", monkeypatch, draw, img_list, pos, device)
    assert lq_full.shape == (4, 3, GT // SCALE, GT // SCALE)
    assert lq.shape == (4, 3, GT_CROP // SCALE, GT_CROP // SCALE) and gts.shape == (4, 5, 3, GT_CROP, GT_CROP)
    assert torch.equal(lq, their_lq), f"max |diff| {(lq - their_lq).abs().max().item()}"
    assert torch.equal(gts, their_gts)


@pytest.mark.parametrize("noise", ["gaussian", "poisson"])
@pytest.mark.parametrize("model", ["ori", "pos", "pos+neg"])
def test_colour_only_batches_and_every_model(reference, monkeypatch, model, noise):
    draw = _draw("down", "bicubic", noise, gray=(False,) * 3, seed=101)
    img_list = _gt_stack(3, 101)
    _, lq, gts, pos = _run_ours(draw, img_list, 5, model)
    their_lq, their_gts = _run_theirs(reference, model, monkeypatch, draw, img_list, pos)
    assert torch.equal(lq, their_lq), f"max |diff| {(lq - their_lq).abs().max().item()}"
    assert torch.equal(gts, their_gts)


@pytest.mark.parametrize("noise", ["gaussian", "poisson"])
def test_batch_of_one_and_all_gray(reference, monkeypatch, noise):
    draw = _draw("up", "bilinear", noise, gray=(True,), seed=202)
    img_list = _gt_stack(1, 202)
    _, lq, gts, pos = _run_ours(draw, img_list, 9, "pos+neg")
    their_lq, _ = _run_theirs(reference, "pos+neg", monkeypatch, draw, img_list, pos)
    assert torch.equal(lq, their_lq), f"max |diff| {(lq - their_lq).abs().max().item()}"


CONFIGS = [f"train_{net}GAN_PosNegGT_Blind_{mode}_x4.yml" for net in ("RRDB", "SwinIR") for mode in ("Ori", "Pos", "Pos+Neg")]


@pytest.mark.parametrize("config", CONFIGS)
def test_settings_are_the_reference_configs(ref, config):
    """TABLE_2_REFERENCE is what every Real-ISR config of theirs asks for, and each config's model
    is one of the three whose feed_data the tests above run."""
    opt = yaml.safe_load(ref.path("options", "train", "PosNegGTSR", config).read_text())
    for key in ("resize_prob", "resize_range", "gaussian_noise_prob", "noise_range", "poisson_scale_range", "gray_noise_prob", "jpeg_range", "scale"):
        assert opt[key] == OPT[key], key
    train = opt["datasets"]["train"]
    lo, hi = SETTINGS.kernel_half_range
    assert (train["blur_kernel_size_min"], train["blur_kernel_size_max"]) == (lo, hi)
    assert train["kernel_list"] == ["iso", "aniso"] and train["kernel_prob"] == pytest.approx([SETTINGS.iso_probability, 1 - SETTINGS.iso_probability])
    assert train["sinc_prob"] == SETTINGS.sinc_probability and tuple(train["blur_sigma"]) == SETTINGS.sigma_range
    assert opt["model_type"] in {cls for _, cls in MODELS.values()}


def test_kernels_match_reference_generators(reference):
    """Our kernels (hggt's kernel code) against their bivariate_Gaussian / circular_lowpass_kernel."""
    deg = reference.degradations
    sinc_settings = SETTINGS.model_copy(update={"sinc_probability": 0.5})
    draw = draw_batch(sinc_settings, 24, np.random.default_rng(3))
    assert {"iso", "aniso", "sinc"} <= set(draw.kernel_type)
    k_max = 2 * SETTINGS.kernel_half_range[1] + 1
    for i, kind in enumerate(draw.kernel_type):
        size = draw.kernel_size[i]
        if kind == "sinc":
            theirs = deg.circular_lowpass_kernel(draw.sinc_cutoff[i], size, pad_to=False)
        else:
            theirs = deg.bivariate_Gaussian(size, draw.sigma_x[i], draw.sigma_y[i], draw.rotation[i], isotropic=kind == "iso")
        pad = (k_max - size) // 2
        theirs = torch.FloatTensor(np.pad(theirs, ((pad, pad), (pad, pad))))
        assert (draw.kernels[i] - theirs).abs().max().item() <= 1e-7


def test_blur_matches_filter2d(reference):
    from hggt.core.degradation.batch_synthesis import _blur

    draw = draw_batch(SETTINGS, 4, np.random.default_rng(8))
    x = _gt_stack(4, 8)[:, 0]
    assert torch.equal(_blur(x, draw.kernels), reference.filter2D(x, draw.kernels))


def test_synthesis_is_deterministic_and_on_levels():
    draw = draw_batch(SETTINGS, 4, np.random.default_rng(0))
    x = _gt_stack(4, 0)[:, 0]
    a, b = synthesize(x, draw, SCALE), synthesize(x, draw, SCALE)
    assert torch.equal(a, b)
    assert torch.equal(a * 255, torch.round(a * 255)) and a.min() >= 0 and a.max() <= 1
    other = dataclasses.replace(draw, noise_seed=draw.noise_seed + 1)
    assert not torch.equal(add_noise(x, draw), add_noise(x, other))
    rebuilt = BatchDraw.from_rows(draw.rows())
    assert torch.equal(rebuilt.kernels, draw.kernels) and rebuilt.rows() == draw.rows()
    assert torch.equal(synthesize(x, rebuilt, SCALE), a)


def test_paired_crop_is_one_position_for_the_batch():
    gts = torch.arange(2 * 5 * 3 * 64 * 64, dtype=torch.float32).view(2, 5, 3, 64, 64)
    lq = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).view(2, 3, 16, 16)
    (g,), l, (top, left) = paired_crop([gts], lq, 32, 4, np.random.default_rng(4))
    assert torch.equal(l, lq[..., top : top + 8, left : left + 8])
    assert torch.equal(g, gts[..., 4 * top : 4 * top + 32, 4 * left : 4 * left + 32])
    positions = {paired_crop(gts, lq, 32, 4, np.random.default_rng(s))[2] for s in range(200)}
    assert {p[0] for p in positions} == set(range(9)) and {p[1] for p in positions} == set(range(9))
    with pytest.raises(ValueError):
        paired_crop(gts, lq[..., :15, :], 32, 4, np.random.default_rng(0))


def test_draw_statistics_per_batch_and_per_sample():
    rng = np.random.default_rng(2024)
    draws = [draw_batch(SETTINGS, 4, rng) for _ in range(500)]
    n = len(draws)

    directions = np.array([["down", "same", "up"].index(d.resize_direction) for d in draws])
    freq = np.bincount(directions, minlength=3) / n
    assert np.allclose(freq, SETTINGS.resize_probabilities, atol=0.05)
    for d in draws:
        lo, hi = SETTINGS.resize_range
        assert {"down": lo <= d.resize_scale <= 1, "same": d.resize_scale == 1, "up": 1 <= d.resize_scale <= hi}[d.resize_direction]
    modes = np.array([SETTINGS.resize_modes.index(d.resize_mode) for d in draws])
    assert np.allclose(np.bincount(modes, minlength=3) / n, 1 / 3, atol=0.07)

    gaussian = np.array([d.noise_type == "gaussian" for d in draws])
    assert abs(gaussian.mean() - SETTINGS.gaussian_noise_probability) < 0.07
    for d in draws:
        active = d.noise_sigma if d.noise_type == "gaussian" else d.poisson_scale
        idle = d.poisson_scale if d.noise_type == "gaussian" else d.noise_sigma
        lo, hi = SETTINGS.noise_sigma_range if d.noise_type == "gaussian" else SETTINGS.poisson_scale_range
        assert all(lo - 1e-6 <= v <= hi + 1e-6 for v in active) and set(idle) == {0.0}
        assert len(set(active)) == 4, "noise strengths are drawn per sample"
        assert len(set(d.jpeg_quality)) == 4 and all(SETTINGS.jpeg_range[0] <= q <= SETTINGS.jpeg_range[1] for q in d.jpeg_quality)
    qualities = np.array([q for d in draws for q in d.jpeg_quality])
    assert np.mean(qualities != np.round(qualities)) > 0.99, "qualities are floats"
    assert abs(qualities.mean() - sum(SETTINGS.jpeg_range) / 2) < 0.5

    gray = np.array([d.gray_noise for d in draws])
    assert abs(gray.mean() - SETTINGS.gray_noise_probability) < 0.03
    mixed = np.mean([0 < g.sum() < 4 for g in gray])
    assert mixed > 0.4, "gray flags are drawn per sample"

    kinds = np.array([k for d in draws for k in d.kernel_type])
    sizes = np.array([k for d in draws for k in d.kernel_size])
    assert np.allclose(np.mean(kinds == "sinc"), SETTINGS.sinc_probability, atol=0.008)
    assert abs(np.mean(kinds == "iso") - (1 - SETTINGS.sinc_probability) * SETTINGS.iso_probability) < 0.035
    lo, hi = SETTINGS.kernel_half_range
    assert set(sizes) == {2 * m + 1 for m in range(lo, hi + 1)}
    for d in draws[:50]:
        assert d.kernels.shape == (4, 2 * hi + 1, 2 * hi + 1) and d.kernels.dtype == torch.float32
        assert torch.allclose(d.kernels.sum(dim=(1, 2)), torch.ones(4), atol=1e-5)
        assert len(set(d.kernel_size)) > 1 or len(set(d.sigma_x)) > 1

    again = draw_batch(SETTINGS, 4, np.random.default_rng(7))
    same = draw_batch(SETTINGS, 4, np.random.default_rng(7))
    assert again.rows() == same.rows() and torch.equal(again.kernels, same.kernels)
    assert len(again.rows()) == 4 and again.rows()[0]["noise_seed"] == again.noise_seed
    assert math.isfinite(again.resize_scale)
