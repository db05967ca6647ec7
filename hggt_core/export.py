"""Trained generators as files other tools load: safetensors with the reference implementations'
parameter names and ONNX with dynamic batch, height and width. Every export says which variant it
holds (the upsampler of a Real-ISR generator) and whether Spandrel (hence chaiNNer and ComfyUI)
loads it exactly."""

from __future__ import annotations

import io
import json
import warnings

import torch
from safetensors.torch import save as save_safetensors

from hggt_core.networks import NETWORKS, network

# What Spandrel calls our architectures, where it can detect them from the weights alone.
SPANDREL_NAMES = {name: n.spandrel for name, n in NETWORKS.items() if n.spandrel}


def variant(arch: str, options: dict) -> str:
    """The upsampler of a Real-ISR generator ('' for the enhancers, which have none)."""
    return str(options.get("upsampler", "")) if network(arch).upsamplers else ""


def spandrel_name(arch: str, options: dict) -> str | None:
    """The Spandrel 0.4.2 architecture that rebuilds this generator exactly from its safetensors,
    or None (the registry's ``spandrel_exact`` options). Spandrel's ESRGAN knows only the nearest
    upsampler and growth 32: it takes the authors' pixel-shuffle RRDBPSNet for a 1x ESRGAN without
    upsampler, silently wrong. Its SwinIR reads both upsamplers but fixes their width at 64."""
    entry = network(arch)
    if entry.spandrel and all(options.get(k) == v for k, v in entry.spandrel_exact.items()):
        return entry.spandrel
    return None


def describe(arch: str, options: dict) -> str:
    """One line for the user: what the export holds and what can load it."""
    up = variant(arch, options)
    what = f"{arch} ({up} upsampler)" if up else arch
    name = spandrel_name(arch, options)
    where = f"Spandrel loads it as {name}" if name else "Spandrel cannot load it exactly: use the ONNX export"
    return f"{what}; {where}"


def metadata(arch: str, options: dict, scale: int, source: str) -> dict[str, object]:
    return {
        "hggt_arch": arch, "options": options, "scale": scale, "source": source,
        "upsampler": variant(arch, options) or "none", "spandrel": spandrel_name(arch, options) or "none",
    }


def to_safetensors(model: torch.nn.Module, metadata: dict[str, object], half: bool = False) -> bytes:
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        tensors[key] = value.half() if half and value.is_floating_point() else value
    return save_safetensors(tensors, metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})


def to_onnx(model: torch.nn.Module, half: bool = False, example_size: int = 32, opset: int = 17) -> bytes:
    """ONNX with dynamic batch, height and width (the window-attention models pad inside the graph)."""
    model = model.eval().cpu()
    dtype = torch.float16 if half else torch.float32
    model = model.to(dtype)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, torch.rand(1, 3, example_size, example_size, dtype=dtype), buf, input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "out_height", 3: "out_width"}},
            opset_version=opset, dynamo=False,
        )
    return buf.getvalue()
