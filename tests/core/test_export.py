"""Exported generators load in Spandrel (as chaiNNer and ComfyUI load them) and in onnxruntime,
compute what ours compute, and say which variant they hold."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from hggt_core.archs import build_generator
from hggt_core.export import describe, metadata, spandrel_name, to_onnx, to_safetensors, variant

TINY = {
    "rrdb": {"blocks": 1, "channels": 8, "growth": 4},
    "swinir": {"embed_dim": 12, "depths": (2,), "num_heads": (2,), "window_size": 4, "num_feat": 8},
    "elan": {"blocks": 2, "channels": 24},
    "rcan": {"groups": 1, "blocks": 1, "channels": 8, "reduction": 4},
}


def _spandrel_load(model, tmp_path):
    import spandrel

    path = tmp_path / "model.safetensors"
    path.write_bytes(to_safetensors(model, {"hggt_arch": "test"}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spandrel.ModelLoader().load_from_file(str(path))


@pytest.mark.parametrize("arch, upsampler", [("rrdb", "nearest"), ("swinir", "pixelshuffle")])  # nearest+conv: the tiny cases below
def test_spandrel_detects_our_paper_size_generators(arch, upsampler, tmp_path):
    torch.manual_seed(0)
    pad = {"pad": "multiple"} if arch == "swinir" else {}  # Spandrel's SwinIR pads to the next multiple only
    model = build_generator(arch, upsampler=upsampler, **pad).eval()
    loaded = _spandrel_load(model, tmp_path)
    assert loaded.architecture.name == spandrel_name(arch, {**_paper(arch), "upsampler": upsampler, **pad}) and loaded.scale == 4
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        ours, theirs = model(x), loaded.model.eval()(x)
    assert ours.shape == (1, 3, 80, 96) and (ours - theirs).abs().max() <= 1e-5


def test_spandrel_misreads_the_authors_pixelshuffle_rrdb(tmp_path):
    # Spandrel 0.4.2 matches RRDBPSNet's names to ESRGAN but drops the pixel-shuffle layers and
    # builds a 1x network: hggt must not advertise these files as Spandrel models.
    loaded = _spandrel_load(build_generator("rrdb").eval(), tmp_path)
    assert loaded.architecture.name == "ESRGAN" and loaded.scale == 1
    assert spandrel_name("rrdb", _paper("rrdb")) is None and "cannot load" in describe("rrdb", _paper("rrdb"))


def _paper(arch):
    from hggt_core.presets import load_config

    return getattr(load_config("paper").train_sr, arch).model_dump()


@pytest.mark.parametrize("arch, options", [
    ("rrdb", {"blocks": 1, "channels": 8, "growth": 32, "upsampler": "nearest"}),
    ("rrdb", {"blocks": 1, "channels": 8, "growth": 4, "upsampler": "nearest"}),
    ("rrdb", {"blocks": 1, "channels": 8, "growth": 32, "upsampler": "pixelshuffle"}),
    ("swinir", {**TINY["swinir"], "num_feat": 64, "upsampler": "pixelshuffle"}),
    ("swinir", {**TINY["swinir"], "num_feat": 64, "upsampler": "nearest+conv"}),
    ("swinir", {**TINY["swinir"], "num_feat": 64, "upsampler": "pixelshuffle", "pad": "multiple"}),
    ("swinir", {**TINY["swinir"], "num_feat": 64, "upsampler": "nearest+conv", "pad": "multiple"}),
    ("swinir", {**TINY["swinir"], "upsampler": "pixelshuffle"}),
])
def test_spandrel_name_says_exactly_when_spandrel_rebuilds_the_network(arch, options, tmp_path):
    torch.manual_seed(0)
    model = build_generator(arch, **options).eval()
    try:
        loaded = _spandrel_load(model, tmp_path)
        x = torch.rand(1, 3, 8, 12)
        with torch.no_grad():
            out = loaded.model.eval()(x)
            exact = loaded.scale == 4 and out.shape == model(x).shape and bool((out - model(x)).abs().max() <= 1e-5)
    except Exception:
        exact = False
    assert exact == (spandrel_name(arch, options) is not None)


def test_exports_name_their_variant(tmp_path):
    options = {**TINY["rrdb"], "upsampler": "pixelshuffle"}
    meta = metadata("rrdb", options, 4, "run-1")
    assert meta["upsampler"] == "pixelshuffle" and meta["spandrel"] == "none" and meta["options"] == options
    assert variant("swinir", {"upsampler": "nearest+conv"}) == "nearest+conv" and variant("elan", TINY["elan"]) == ""
    assert "pixelshuffle upsampler" in describe("rrdb", options)
    assert describe("swinir", {**_paper("swinir"), "pad": "multiple"}) == "swinir (pixelshuffle upsampler); Spandrel loads it as SwinIR"
    assert "cannot load" in describe("swinir", _paper("swinir"))  # the authors' extra padding window: not Spandrel's
    from safetensors import safe_open

    path = tmp_path / "model.safetensors"
    path.write_bytes(to_safetensors(build_generator("rrdb", **options), meta))
    with safe_open(str(path), "pt") as f:
        assert f.metadata()["upsampler"] == "pixelshuffle"


def test_half_safetensors_store_float16(tmp_path):
    from safetensors.torch import load

    model = build_generator("rrdb", **TINY["rrdb"])
    tensors = load(to_safetensors(model, {"hggt_arch": "rrdb"}, half=True))
    assert {t.dtype for t in tensors.values()} == {torch.float16}
    assert set(tensors) == set(model.state_dict())


@pytest.mark.parametrize("arch, options", [
    ("rrdb", {"upsampler": "pixelshuffle"}), ("rrdb", {"upsampler": "nearest"}), ("swinir", {"upsampler": "pixelshuffle"}),
    ("swinir", {"upsampler": "nearest+conv"}), ("elan", {}), ("rcan", {}),
])
def test_onnx_has_dynamic_sizes_and_matches_torch(arch, options):
    import onnxruntime as ort

    torch.manual_seed(1)
    model = build_generator(arch, **TINY[arch], **options).eval()
    session = ort.InferenceSession(to_onnx(model), providers=["CPUExecutionProvider"])
    for shape in ((1, 3, 24, 24), (2, 3, 21, 35)):
        x = torch.rand(shape)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4, (arch, options, shape)
