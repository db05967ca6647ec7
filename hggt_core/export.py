"""Trained generators as files other tools load: safetensors with the reference implementations'
parameter names (Spandrel, hence chaiNNer and ComfyUI, detects RRDBNet and SwinIR from them) and
ONNX with dynamic batch, height and width."""

from __future__ import annotations

import io
import json
import warnings

import torch
from safetensors.torch import save as save_safetensors

# What Spandrel calls our architectures, where it can detect them from the weights alone.
SPANDREL_NAMES = {"rrdb": "ESRGAN", "swinir": "SwinIR"}


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
