"""Weight files from elsewhere (BasicSR, Real-ESRGAN, ESRGAN, safetensors) and safe loading."""

from __future__ import annotations

import ast
import inspect
import io
import os
import pathlib
import re

import pytest
import torch
from safetensors.torch import save as save_safetensors

from hggt.core.archs import build_generator
from hggt.core.checkpoints import CheckpointError, load_weights, read_weights, torch_load

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _rrdb(blocks: int = 1, channels: int = 8, seed: int = 0) -> torch.nn.Module:
    from hggt.core.archs.rrdbnet import RRDBNet

    torch.manual_seed(seed)
    options = {"blocks": blocks, "channels": channels, "growth": 4}
    if "upsampler" in inspect.signature(RRDBNet).parameters:  # ESRGAN's layout: nearest + conv
        options["upsampler"] = "nearest"
    return build_generator("rrdb", **options)


def _pth(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("layout", ["params_ema", "params", "bare", "module", "hggt"])
def test_basicsr_and_hggt_pth_files_load_exactly(layout):
    source, other = _rrdb(seed=1), _rrdb(seed=2)
    state = source.state_dict()
    obj = {
        # BasicSR saves both when it trains with EMA; the EMA weights are the ones to start from.
        "params_ema": {"params_ema": state, "params": other.state_dict()},
        "params": {"params": state},
        "bare": state,
        "module": {f"module.{k}": v for k, v in state.items()},
        "hggt": {"arch": "rrdb", "options": {}, "mode": "psnr", "state_dict": state, "run_id": "rrdb-psnr-x"},
    }[layout]
    target = _rrdb(seed=3)
    what = load_weights(target, _pth(obj), "RRDB_DF2K_OST_Blind_PSNR_x4.pth")
    assert _same(target, source)
    assert {"params_ema": "params_ema", "params": "(params)", "bare": "bare", "module": "bare", "hggt": "hggt"}[layout] in what


@pytest.mark.parametrize("name", ["net_g.safetensors", "net_g.bin"])  # the format is also told by its header
def test_safetensors_load_exactly(name):
    source, target = _rrdb(seed=1), _rrdb(seed=2)
    half = {k: v.half() for k, v in source.state_dict().items()}
    assert load_weights(target, save_safetensors(half), name) == "safetensors file"
    assert all(torch.equal(v, half[k].float()) for k, v in target.state_dict().items())


def _esrgan_old(state: dict, blocks: int) -> dict:
    """BasicSR names written back as the original ESRGAN repository's two layouts."""
    old, trunk = {}, {}
    for k, v in state.items():
        if m := re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)", k):
            old[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = v
            trunk[f"RRDB_trunk.{m[1]}.RDB{m[2]}.conv{m[3]}.{m[4]}"] = v
            continue
        module, kind = k.split(".")
        index = {"conv_first": "0", "conv_body": f"1.sub.{blocks}", "conv_up1": "3", "conv_up2": "6", "conv_hr": "8", "conv_last": "10"}
        old[f"model.{index[module]}.{kind}"] = v
        names = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}
        trunk[f"{names.get(module, module)}.{kind}"] = v
    return {"old": old, "trunk": trunk}


@pytest.mark.parametrize("layout", ["old", "trunk"])
def test_original_esrgan_names_are_mapped(layout):
    source, target = _rrdb(blocks=2, seed=1), _rrdb(blocks=2, seed=2)
    what = load_weights(target, _pth(_esrgan_old(source.state_dict(), 2)[layout]), "RRDB_ESRGAN_x4.pth")
    assert _same(target, source) and "ESRGAN names mapped" in what


def test_a_file_for_another_network_names_the_keys_that_differ():
    target = _rrdb(blocks=1, channels=8)
    deeper = _pth({"params_ema": _rrdb(blocks=3, channels=8).state_dict()})
    with pytest.raises(CheckpointError) as err:
        load_weights(target, deeper, "models/deeper.pth", "the rrdb generator of this run")
    text = str(err.value)
    assert "models/deeper.pth" in text and "params_ema" in text and "an RRDB network (3 blocks, 8 channels, 3 input channels)" in text
    assert "unexpected in the file (" in text and "body.1.rdb1.conv1.weight" in text and "body[3]" in text
    assert "missing" not in text

    wider = _pth(_rrdb(blocks=1, channels=16).state_dict())
    with pytest.raises(CheckpointError, match=r"shape mismatches \(\d+\): conv_first.weight \(16, 3, 3, 3\) in the file, \(8, 3, 3, 3\)"):
        load_weights(target, wider, "wider.pth")

    swinir = build_generator("swinir", embed_dim=12, depths=(2,), num_heads=(2,), window_size=4, num_feat=8)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        load_weights(target, _pth({"params": swinir.state_dict()}), "swinir.pth")
    text = str(err.value)
    assert "a SwinIR (1 residual groups, embedding 12, window 4)" in text
    assert re.search(r"missing from the file \(\d+ of the model's \d+ keys\): .*body\.0\.rdb1", text)
    assert re.search(r"unexpected in the file \(\d+ of its \d+ keys\): .*, \.\.\. \(\d+ in all\)", text)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())  # nothing half-loaded


def test_swinir_derived_buffers_of_another_patch_size_are_rebuilt():
    options = {"embed_dim": 12, "depths": (2,), "num_heads": (2,), "window_size": 4, "num_feat": 8}
    torch.manual_seed(0)
    source = build_generator("swinir", **options, img_size=16)
    target = build_generator("swinir", **options, img_size=32)
    masks = {k: v.clone() for k, v in target.state_dict().items() if k.endswith("attn_mask")}
    assert masks and any(source.state_dict()[k].shape != v.shape for k, v in masks.items())
    load_weights(target, _pth({"params": source.state_dict()}), "swinir.pth")
    learned = {n for n, _ in target.named_parameters()}
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in target.state_dict().items() if k in learned)
    assert all(torch.equal(target.state_dict()[k], v) for k, v in masks.items())


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    data = _pth({"params": {"conv_first.weight": torch.zeros(1)}, "x": _Payload(str(marker))})
    with pytest.raises(CheckpointError, match=r"evil.pth: refused to load: .*arbitrary code.*(system|global)"):
        torch_load(data, "evil.pth")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_weights(_rrdb(), data, "evil.pth")
    assert not marker.exists()


@pytest.mark.parametrize("data, message", [
    (b"not a checkpoint at all", "not a readable PyTorch file"),
    (_pth([torch.zeros(1)]), "holds a list"),
    (_pth({"params": {"w": 3}}), "not a state dict under 'params'"),
    (_pth({"trainer": {}, "key": "k"}), "training checkpoint"),
])
def test_files_without_weights_are_refused_clearly(data, message):
    with pytest.raises(CheckpointError, match=message):
        read_weights(data, "bad.pth")


def _unsafe_loads(path: pathlib.Path, base: pathlib.Path = ROOT) -> list[str]:
    """torch.load calls (as torch.load, torch.serialization.load or an imported load) without a
    literal weights_only=True."""
    tree = ast.parse(path.read_text(), str(path))
    aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module in ("torch", "torch.serialization") for a in node.names if a.name == "load"}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        dotted = ast.unparse(func)
        if dotted not in ("torch.load", "torch.serialization.load") and not (isinstance(func, ast.Name) and func.id in aliases):
            continue
        flag = next((k.value for k in node.keywords if k.arg == "weights_only"), None)
        if not (isinstance(flag, ast.Constant) and flag.value is True):
            found.append(f"{path.relative_to(base)}:{node.lineno}")
    return found


def test_every_torch_load_in_the_code_is_weights_only():
    files = [p for folder in ("hggt", "benchmarks") for p in (ROOT / folder).rglob("*.py")]
    assert len(files) > 20
    assert [hit for p in files for hit in _unsafe_loads(p)] == []


def test_the_ast_check_finds_unsafe_calls(tmp_path):
    bad = tmp_path / "sample.py"
    bad.write_text("import torch\nfrom torch import load as L\ntorch.load('a')\nL('b', weights_only=False)\n"
                   "torch.serialization.load('c', weights_only=flag)\ntorch.load('d', weights_only=True)\n")
    assert _unsafe_loads(bad, tmp_path) == ["sample.py:3", "sample.py:4", "sample.py:5"]


def test_the_authors_pixelshuffle_rrdb_loads_and_a_nearest_file_is_told_apart():
    from hggt.core.archs.rrdbnet import RRDBNet

    if "upsampler" not in inspect.signature(RRDBNet).parameters:
        pytest.skip("RRDBNet has a single upsampler")
    torch.manual_seed(1)
    source = build_generator("rrdb", blocks=1, channels=8, growth=4, upsampler="pixelshuffle")
    target = build_generator("rrdb", blocks=1, channels=8, growth=4, upsampler="pixelshuffle")
    load_weights(target, _pth({"params_ema": source.state_dict()}), "RRDB_DF2K_OST_Blind_PSNR_x4.pth")
    assert _same(target, source)
    with pytest.raises(CheckpointError, match=r"(?s)missing from the file.*upsample\..*unexpected in the file.*conv_up1"):
        load_weights(target, _pth(_rrdb().state_dict()), "RealESRGAN_x4plus.pth")
