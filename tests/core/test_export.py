"""Exported generators load in Spandrel (as chaiNNer and ComfyUI load them) and in onnxruntime,
compute what ours compute, and say which variant they hold."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from hggt.core import spandrel_rrdb
from hggt.core.archs import build_generator
from hggt.core.export import (
    CLIENTS, CORRECT, FAILS, WRONG, client_verdicts, describe, metadata, spandrel_extension, spandrel_name, to_onnx,
    to_safetensors, variant,
)
from hggt.core.networks import NETWORKS

TINY = {
    "rrdb": {"blocks": 1, "channels": 8, "growth": 4},
    "swinir": {"embed_dim": 12, "depths": (2,), "num_heads": (2,), "window_size": 4, "num_feat": 8},
    "elan": {"blocks": 2, "channels": 24},
    "rcan": {"groups": 1, "blocks": 1, "channels": 8, "reduction": 4},
}


def _spandrel_load(model, tmp_path, registry=None):
    """Load ``model``'s safetensors export as Spandrel's own loader does; ``registry`` None: plain
    Spandrel, whatever this process has registered (to_safetensors registers hggt's extension)."""
    import spandrel

    path = tmp_path / "model.safetensors"
    path.write_bytes(to_safetensors(model, {"hggt_arch": "test"}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spandrel.ModelLoader(registry=registry or spandrel_rrdb.registry_without()).load_from_file(str(path))


@pytest.mark.parametrize("arch, upsampler", [("rrdb", "nearest"), ("swinir", "pixelshuffle")])  # nearest+conv: the tiny cases below
def test_spandrel_detects_our_paper_size_generators(arch, upsampler, tmp_path):
    torch.manual_seed(0)
    pad = {"pad": "multiple"} if arch == "swinir" else {}  # Spandrel's SwinIR pads to the next multiple only
    model = build_generator(arch, upsampler=upsampler, **pad).eval()
    loaded = _spandrel_load(model, tmp_path)
    assert loaded.architecture.name == spandrel_name(arch, {**_paper(arch), "upsampler": upsampler, **pad}) and loaded.scale == 4
    # hggt's extension leaves what Spandrel already reads right to Spandrel's own architectures.
    first = next(a for a in spandrel_rrdb.registry_with().architectures("detection") if a.detect(model.state_dict()))
    assert first.architecture.id == loaded.architecture.id
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        ours, theirs = model(x), loaded.model.eval()(x)
    assert ours.shape == (1, 3, 80, 96) and (ours - theirs).abs().max() <= 1e-5


def test_spandrel_misreads_the_authors_pixelshuffle_rrdb(tmp_path):
    # Why hggt.core.spandrel_rrdb exists: Spandrel 0.4.2 matches RRDBPSNet's names to ESRGAN but
    # drops the pixel-shuffle layers and builds a 1x network, no error; at the demo's width (growth
    # 8, not ESRGAN's 32) it detects ESRGAN too and then fails to load.
    loaded = _spandrel_load(build_generator("rrdb").eval(), tmp_path)
    assert loaded.architecture.name == "ESRGAN" and loaded.scale == 1
    assert spandrel_name("rrdb", _paper("rrdb")) is None and "only with hggt's extension" in describe("rrdb", _paper("rrdb"))
    with pytest.raises(RuntimeError, match="size mismatch"):
        _spandrel_load(build_generator("rrdb", **NETWORKS["rrdb"].demo).eval(), tmp_path)


@pytest.mark.parametrize("size", ["paper", "demo", "tiny"])
def test_the_extension_loads_the_pixelshuffle_rrdb_exactly(size, tmp_path):
    import spandrel

    options = {"paper": {}, "demo": NETWORKS["rrdb"].demo, "tiny": NETWORKS["rrdb"].tiny}[size]
    torch.manual_seed(0)
    model = build_generator("rrdb", **{**options, "upsampler": "pixelshuffle"}).eval()
    path = tmp_path / "rrdb.safetensors"
    path.write_bytes(to_safetensors(model, {"hggt_arch": "rrdb"}))
    spandrel_rrdb.register()
    spandrel_rrdb.register()  # twice: harmless
    assert sum(a.architecture.id == spandrel_rrdb.ARCH_ID for a in spandrel.MAIN_REGISTRY.architectures()) == 1
    ids = [a.architecture.id for a in spandrel.MAIN_REGISTRY.architectures("detection")]
    assert ids.index(spandrel_rrdb.ARCH_ID) < ids.index("ESRGAN")
    loaded = spandrel.ModelLoader().load_from_file(str(path))  # Spandrel's own loader, its main registry
    size_of = build_generator("rrdb", **options).body[0].rdb1
    assert loaded.architecture.id == spandrel_rrdb.ARCH_ID and loaded.scale == 4
    assert loaded.input_channels == loaded.output_channels == 3
    assert loaded.tags[:3] == [f"{size_of.conv1.in_channels}nf", f"{len(model.body)}nb", f"{size_of.conv1.out_channels}gc"]
    x = torch.rand(1, 3, 12, 20)
    with torch.no_grad():
        ours, theirs = model(x), loaded.model.eval()(x)
    assert ours.shape == theirs.shape == (1, 3, 48, 80) and (ours - theirs).abs().max() == 0.0
    # A near miss (a layer more or less) is not taken for this architecture.
    state = dict(model.state_dict())
    assert spandrel_rrdb.RRDBPSNetArch().detect(state)
    assert not spandrel_rrdb.RRDBPSNetArch().detect({k: v for k, v in state.items() if k != "conv_hr.bias"})
    assert not spandrel_rrdb.RRDBPSNetArch().detect({**state, "conv_up1.weight": state["conv_body.weight"]})


def test_export_verdicts_name_each_client(tmp_path):
    model = build_generator("rrdb", **{**NETWORKS["rrdb"].demo, "upsampler": "pixelshuffle"}).eval()
    for half in (False, True):
        found = client_verdicts(model, to_safetensors(model, {}, half), "safetensors", half)
        assert [v["client"] for v in found] == list(CLIENTS)
        assert [v["verdict"] for v in found] == [FAILS, CORRECT, FAILS], found
        assert "detected as ESRGAN" in found[0]["detail"] and "max abs diff 0 " in found[1]["detail"]
        assert all(v["line"].startswith(f"{CLIENTS[v['client']]}: {v['verdict']} - ") for v in found)
    paper = build_generator("rrdb").eval()  # the paper's size: plain Spandrel's silent 1x ESRGAN
    plain, extended, _ = client_verdicts(paper, to_safetensors(paper, {}), "safetensors")
    assert plain["verdict"] == WRONG and "as ESRGAN, 1x" in plain["detail"]
    assert extended["verdict"] == CORRECT and f"as {spandrel_rrdb.ARCH_ID}, 4x" in extended["detail"]
    nearest = build_generator("rrdb", **{**NETWORKS["rrdb"].demo, "upsampler": "nearest"}).eval()  # growth 8: ESRGAN fails
    assert [v["verdict"] for v in client_verdicts(nearest, to_safetensors(nearest, {}), "safetensors")] == [FAILS] * 3
    elan = build_generator("elan", **TINY["elan"]).eval()
    assert "no Spandrel architecture" in client_verdicts(elan, to_safetensors(elan, {}), "safetensors")[0]["detail"]
    for half in (False, True):
        found = client_verdicts(model, to_onnx(model, half), "onnx", half)
        assert [v["verdict"] for v in found] == [FAILS, FAILS, CORRECT], found
        assert ("feed it float16 input, float32 input is refused" in found[2]["detail"]) == half
    assert next(model.parameters()).dtype == torch.float32  # to_onnx(half=True) left the caller's model alone


def _paper(arch):
    from hggt.core.presets import load_config

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
    assert meta["spandrel_extension"] == spandrel_rrdb.ARCH_ID == spandrel_extension("rrdb", options)
    assert spandrel_extension("rrdb", {"upsampler": "nearest"}) is None and spandrel_extension("swinir", _paper("swinir")) is None
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
