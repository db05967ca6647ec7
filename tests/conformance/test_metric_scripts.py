"""hggt's evaluation metrics against the authors' metric scripts (``scripts/metrics/
calculate_multigt_labeled_{psnr_ssim,lpips,dists}.py``), whose ``main`` runs as it is on a small
Test-100-style folder (GT versions 01..04, three annotators' labels, SR outputs).

Their scripts print 4 decimals, so each call of their metric is recorded at full precision and
compared with hggt's ``image_scores`` (what the evaluate stage stores per SR output and positive
GT) on the same PNG files; their averages are checked against ``multi_gt_average``. Their
hard-coded ``cuda:N`` device becomes the CPU. No pretrained backbone is downloaded: torchvision's
``alexnet`` and ``vgg16``, which lpips and DISTS_pytorch call on both sides, return the same seeded
random features. The images are small (VGG16 on 2 CPU cores); that DISTS sees larger images at full
resolution, as theirs does, is checked on the network's first convolution.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import re
import types

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision

from hggt.core.evaluation import multi_gt_average
from hggt.core.images import decode_png, encode_png
from hggt.core.metrics import DeepMetrics, image_scores
from hggt.core.sample_photos import sample_photo_paths
from hggt.core.weights import KNOWN, hub_checkpoint_dir

CROP = 4
P, S, N = "Positive", "Similar", "Negative"
# set -> (H, W, the labels of versions 01..04 by annotators A, B, C); effective label = the majority
SETS = {
    "one": (40, 48, [(P, P, P), (N, N, S), (P, S, N), (S, S, N)]),  # one positive (01); 02 is negative, 03 and 04 similar
    "two": (48, 48, [(S, N, N), (P, P, S), (N, N, N), (N, P, P)]),  # two positives (02, 04)
}
POSITIVES = {"one": ["01"], "two": ["02", "04"]}
SCRIPTS = {"psnr_ssim": ("psnr", "ssim"), "lpips": ("lpips",), "dists": ("dists",)}


@pytest.fixture
def random_backbones(monkeypatch, tmp_path):
    """Seeded random AlexNet and VGG16 features from torchvision's constructors (both sides call
    them with ``pretrained=True``), and hggt's weight check satisfied by empty hub-cache files that
    nothing reads."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    folder = hub_checkpoint_dir()
    folder.mkdir(parents=True)
    for name in ("alexnet", "vgg16"):
        (folder / KNOWN[name].file).write_bytes(b"")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        features = {"alexnet": _alexnet_features(), "vgg16": torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])}
    for name, f in features.items():
        monkeypatch.setattr(torchvision.models, name, lambda *a, _f=f, **k: types.SimpleNamespace(features=copy.deepcopy(_f)))


def _alexnet_features() -> nn.Sequential:
    """torchvision's AlexNet ``features`` layer for layer (without its 58M-parameter classifier)."""
    conv = lambda i, o, k, **kw: [nn.Conv2d(i, o, k, **kw), nn.ReLU(inplace=True)]  # noqa: E731
    pool = nn.MaxPool2d(3, 2)
    return nn.Sequential(*conv(3, 64, 11, stride=4, padding=2), pool, *conv(64, 192, 5, padding=2), copy.deepcopy(pool),
                         *conv(192, 384, 3, padding=1), *conv(384, 256, 3, padding=1), *conv(256, 256, 3, padding=1),
                         copy.deepcopy(pool))


def _write_test_folder(root):
    """Their layout: gts/0v/<set>_0v.png, restored/<set>_<suffix>.png, labels/{A,B,C}/<set>.json."""
    photo = cv2.imread(str(sample_photo_paths()[0]))  # BGR, as cv2.imwrite expects
    rng = np.random.default_rng(0)
    for i, (name, (h, w, labels)) in enumerate(SETS.items()):
        crop = photo[40 * i:40 * i + h, 60 * i:60 * i + w]
        for v in range(1, 5):
            version = cv2.addWeighted(crop, 1 + 0.2 * v, cv2.GaussianBlur(crop, (0, 0), v), -0.2 * v, 0)
            (root / "gts" / f"{v:02d}").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "gts" / f"{v:02d}" / f"{name}_{v:02d}.png"), version)
        small = cv2.resize(crop, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        sr = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(int) + rng.integers(-6, 7, crop.shape)
        (root / "restored").mkdir(exist_ok=True)
        cv2.imwrite(str(root / "restored" / f"{name}_sr.png"), np.clip(sr, 0, 255).astype(np.uint8))
        for a, annotator in enumerate("ABC"):
            (root / "labels" / annotator).mkdir(parents=True, exist_ok=True)
            doc = {f"Picture_{v + 2}": {"Label": labels[v][a]} for v in range(4)}
            (root / "labels" / annotator / f"{name}.json").write_text(json.dumps(doc))


def _recorded(fn, values):
    def call(*args, **kwargs):
        out = fn(*args, **kwargs)
        values.append(float(out))
        return out

    return call


def _recording_model(build, values):
    """``build`` whose models record every score they return."""
    def make(*args, **kwargs):
        model = build(*args, **kwargs)
        model.forward = _recorded(model.forward, values)
        return model

    return make


class _CpuTorch(types.ModuleType):
    """``torch`` for a script's globals: its ``torch.device("cuda:N")`` is the CPU."""

    def __getattr__(self, name):
        return getattr(torch, name)

    def device(self, *args, **kwargs):
        return torch.device("cpu")


def _run_their_script(ref, kind, root, monkeypatch, capsys):
    """Their script's ``main`` on the folder: {metric: scores in their order}, {metric: printed average}."""
    ref.module("basicsr.metrics.psnr_ssim")  # what `from basicsr.metrics import ...` resolves to
    ref.module("basicsr.utils.img_util")
    path = ref.path("scripts", "metrics", f"calculate_multigt_labeled_{kind}.py")
    spec = importlib.util.spec_from_file_location(f"reference_metrics_{kind}", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    values = {m: [] for m in SCRIPTS[kind]}
    if hasattr(script, "torch"):
        monkeypatch.setattr(script, "torch", _CpuTorch("torch"))
    if kind == "psnr_ssim":
        monkeypatch.setattr(script, "calculate_psnr", _recorded(script.calculate_psnr, values["psnr"]))
        monkeypatch.setattr(script, "calculate_ssim", _recorded(script.calculate_ssim, values["ssim"]))
    elif kind == "lpips":
        monkeypatch.setattr(script, "lpips", types.SimpleNamespace(LPIPS=_recording_model(script.lpips.LPIPS, values["lpips"])))
    else:
        monkeypatch.setattr(script, "DISTS", _recording_model(script.DISTS, values["dists"]))
    args = argparse.Namespace(gts=str(root / "gts"), restored=str(root / "restored"), json_path=str(root / "labels"),
                              crop_border=CROP, test_y_channel=False, correct_mean_var=False, suffix="")
    capsys.readouterr()
    script.main(args)
    printed = capsys.readouterr().out
    averages = {m: float(x) for m, x in zip(SCRIPTS[kind], re.findall(r"avg all:([0-9.]+)", printed))}
    return values, averages


def test_metrics_equal_the_authors_scripts(ref, random_backbones, tmp_path, monkeypatch, capsys):
    _write_test_folder(tmp_path)
    theirs, their_averages = {}, {}
    for kind in SCRIPTS:
        values, averages = _run_their_script(ref, kind, tmp_path, monkeypatch, capsys)
        theirs.update(values)
        their_averages.update(averages)

    deep = DeepMetrics.load(torch.device("cpu"))
    assert deep.skipped == {}
    rows = []
    for name in sorted(SETS):  # their order: SR files sorted, then versions 01..04
        sr = decode_png((tmp_path / "restored" / f"{name}_sr.png").read_bytes())
        for v in POSITIVES[name]:
            gt = decode_png((tmp_path / "gts" / v / f"{name}_{v}.png").read_bytes())
            rows.append({"set_id": name, "gt_version": v, **image_scores(sr, gt, CROP, deep)})

    tolerance = {"psnr": 1e-9, "ssim": 1e-9, "lpips": 1e-6, "dists": 1e-6}
    for metric, values in theirs.items():
        assert len(values) == len(rows), metric  # they scored the same positives
        np.testing.assert_allclose([r[metric] for r in rows], values, rtol=0, atol=tolerance[metric], err_msg=metric)
    ours = multi_gt_average(rows, tuple(theirs))
    assert their_averages.keys() == theirs.keys()
    for metric, printed in their_averages.items():
        assert ours[metric] == pytest.approx(printed, abs=5e-5 + 1e-9), metric  # they print 4 decimals


def test_the_evaluate_stage_writes_what_their_scripts_read(tmp_path):
    """hggt's PNGs decode to the same RGB that their cv2 (BGR, flipped back) and PIL readers see."""
    from PIL import Image

    rgb = np.random.default_rng(1).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    path.write_bytes(encode_png(rgb))
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), rgb)
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1], rgb)


class _Seen(Exception):
    pass


def test_dists_sees_the_cropped_image_at_full_resolution(random_backbones):
    """Their script runs DISTS_pytorch at full resolution (``prepare_image(..., resize=False)``);
    piq's DISTS resized to a 256 short side, which changed 504 x 504 scores about threefold. The
    first convolution must see the 4-pixel-cropped image as it is (stopped there: VGG16 on a large
    image is slow on the CPU)."""
    deep = DeepMetrics.load(torch.device("cpu"))
    first = next(m for m in deep.dists.modules() if isinstance(m, nn.Conv2d))
    seen = []

    def stop(module, inputs):
        seen.append(tuple(inputs[0].shape))
        raise _Seen

    first.register_forward_pre_hook(stop)
    img = np.random.default_rng(3).integers(0, 256, (504, 504, 3), dtype=np.uint8)
    with pytest.raises(_Seen):
        image_scores(img, img, CROP, DeepMetrics(None, deep.dists, {}, deep.device))
    assert seen == [(1, 3, 496, 496)]
