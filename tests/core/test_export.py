"""Exported generators load in Spandrel (as chaiNNer and ComfyUI load them) and in onnxruntime,
and compute what ours compute."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from hggt_core.archs import build_generator
from hggt_core.export import SPANDREL_NAMES, to_onnx, to_safetensors

TINY = {
    "rrdb": {"blocks": 1, "channels": 8, "growth": 4},
    "swinir": {"embed_dim": 12, "depths": (2,), "num_heads": (2,), "window_size": 4, "num_feat": 8},
    "elan": {"blocks": 2, "channels": 24},
    "rcan": {"groups": 1, "blocks": 1, "channels": 8, "reduction": 4},
}


@pytest.mark.parametrize("arch", ["rrdb", "swinir"])
def test_spandrel_detects_our_paper_size_generators(arch, tmp_path):
    import spandrel

    torch.manual_seed(0)
    model = build_generator(arch).eval()
    path = tmp_path / f"{arch}.safetensors"
    path.write_bytes(to_safetensors(model, {"hggt_arch": arch, "scale": 4}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = spandrel.ModelLoader().load_from_file(str(path))
    assert loaded.architecture.name == SPANDREL_NAMES[arch] and loaded.scale == 4
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        ours, theirs = model(x), loaded.model.eval()(x)
    assert ours.shape == (1, 3, 80, 96) and (ours - theirs).abs().max() <= 1e-5


def test_half_safetensors_store_float16(tmp_path):
    from safetensors.torch import load

    model = build_generator("rrdb", **TINY["rrdb"])
    tensors = load(to_safetensors(model, {"hggt_arch": "rrdb"}, half=True))
    assert {t.dtype for t in tensors.values()} == {torch.float16}
    assert set(tensors) == set(model.state_dict())


@pytest.mark.parametrize("arch", ["rrdb", "swinir", "elan", "rcan"])
def test_onnx_has_dynamic_sizes_and_matches_torch(arch):
    import onnxruntime as ort

    torch.manual_seed(1)
    model = build_generator(arch, **TINY[arch]).eval()
    session = ort.InferenceSession(to_onnx(model), providers=["CPUExecutionProvider"])
    for shape in ((1, 3, 24, 24), (2, 3, 21, 35)):
        x = torch.rand(shape)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-4, (arch, shape)
