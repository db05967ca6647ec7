"""Trained generators as files other tools load: safetensors with the reference implementations'
parameter names and ONNX with dynamic batch, height and width. Every export says which variant it
holds (the upsampler of a Real-ISR generator) and whether Spandrel (hence chaiNNer and ComfyUI)
loads it exactly; :func:`client_verdicts` checks it by loading the written file in each client and
comparing its output with ours."""

from __future__ import annotations

import copy
import io
import json
import os
import tempfile
import warnings

import torch
from safetensors.torch import save as save_safetensors

from hggt.core.networks import NETWORKS, network

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


def spandrel_extension(arch: str, options: dict) -> str | None:
    """The architecture of hggt's Spandrel extension (:mod:`hggt.core.spandrel_rrdb`) that rebuilds
    this generator exactly where plain Spandrel cannot (the pixel-shuffle RRDBNet, any size), or None."""
    from hggt.core.spandrel_rrdb import ARCH_ID, HGGT_ARCH, HGGT_UPSAMPLER

    return ARCH_ID if arch == HGGT_ARCH and options.get("upsampler") == HGGT_UPSAMPLER else None


def describe(arch: str, options: dict) -> str:
    """One line for the user: what the export holds and what can load it."""
    up = variant(arch, options)
    what = f"{arch} ({up} upsampler)" if up else arch
    name = spandrel_name(arch, options)
    if name:
        where = f"Spandrel loads it as {name}"
    elif spandrel_extension(arch, options):
        where = ("Spandrel loads it only with hggt's extension (`import hggt.spandrel` first); "
                 "plain Spandrel misreads or refuses it")
    else:
        where = "Spandrel cannot load it exactly: use the ONNX export"
    return f"{what}; {where}"


def metadata(arch: str, options: dict, scale: int, source: str) -> dict[str, object]:
    return {
        "hggt_arch": arch, "options": options, "scale": scale, "source": source,
        "upsampler": variant(arch, options) or "none", "spandrel": spandrel_name(arch, options) or "none",
        "spandrel_extension": spandrel_extension(arch, options) or "none",
    }


def to_safetensors(model: torch.nn.Module, metadata: dict[str, object], half: bool = False) -> bytes:
    """The generator's weights (reference parameter names) and ``metadata``. Registers hggt's
    Spandrel extension in this process, so that ``spandrel.ModelLoader()`` loads the file right."""
    from hggt.core.spandrel_rrdb import register

    register()
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        tensors[key] = value.half() if half and value.is_floating_point() else value
    return save_safetensors(tensors, metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})


def to_onnx(model: torch.nn.Module, half: bool = False, example_size: int = 32, opset: int = 17) -> bytes:
    """ONNX with dynamic batch, height and width (the window-attention models pad inside the graph)."""
    dtype = torch.float16 if half else torch.float32
    model = copy.deepcopy(model).eval().cpu().to(dtype)  # a copy: the caller's model keeps its dtype
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, torch.rand(1, 3, example_size, example_size, dtype=dtype), buf, input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "out_height", 3: "out_width"}},
            opset_version=opset, dynamo=False,
        )
    return buf.getvalue()


# What a client does with an exported file, as client_verdicts measures it.
CORRECT, WRONG, FAILS = "loads correctly", "loads as a different model (wrong output)", "does not load"
CLIENTS = {
    "spandrel": "Spandrel without hggt's extension",
    "spandrel+hggt": "Spandrel with hggt's extension (`import hggt.spandrel`)",
    "onnxruntime": "ONNX (onnxruntime)",
}
CHECK_SIZE = 16  # side of the random input the checks run: cheap at the paper's sizes too


def _verdict(client: str, verdict: str, detail: str) -> dict[str, str]:
    return {"client": client, "verdict": verdict, "detail": detail, "line": f"{CLIENTS[client]}: {verdict} - {detail}"}


def _first_line(exc: Exception) -> str:
    """The exception's first two lines (a state dict mismatch lists every tensor: the first tells)."""
    said = " ".join(line.strip() for line in str(exc).strip().splitlines()[:2])
    text = f"{type(exc).__name__}: {said}".rstrip(": ")
    return text if len(text) <= 240 else text[:240] + " ..."


def _compare(got: torch.Tensor, expected: torch.Tensor, tol: float) -> tuple[bool, str]:
    if tuple(got.shape) != tuple(expected.shape):
        return False, f"output {tuple(got.shape)} for a {CHECK_SIZE}x{CHECK_SIZE} input, hggt's {tuple(expected.shape)}"
    diff = float((got.float() - expected).abs().max())
    return diff <= tol, f"max abs diff {diff:.2g} to hggt's network on a {CHECK_SIZE}x{CHECK_SIZE} input"


def _spandrel_verdict(client: str, path: str, x: torch.Tensor, expected: torch.Tensor) -> dict[str, str]:
    import spandrel

    from hggt.core import spandrel_rrdb

    registry = spandrel_rrdb.registry_with() if client == "spandrel+hggt" else spandrel_rrdb.registry_without()
    loader = spandrel.ModelLoader(registry=registry)
    detected = None
    try:
        state = spandrel.canonicalize_state_dict(loader.load_state_dict_from_file(path))
        detected = next((a.architecture.id for a in registry.architectures("detection") if a.detect(state)), None)
        if detected is None:
            return _verdict(client, FAILS, "no Spandrel architecture matches its weights")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            descriptor = registry.load(state)
    except Exception as exc:  # noqa: BLE001 - whatever Spandrel raises is the verdict's reason
        return _verdict(client, FAILS, f"{f'detected as {detected}, then ' if detected else ''}{_first_line(exc)}")
    as_what = f"as {descriptor.architecture.id}, {descriptor.scale}x"
    try:
        with torch.no_grad():
            got = descriptor.model.float().eval()(x)
    except Exception as exc:  # noqa: BLE001
        return _verdict(client, FAILS, f"{as_what}, which fails on a {CHECK_SIZE}x{CHECK_SIZE} input: {_first_line(exc)}")
    same, how = _compare(got, expected, 1e-5)
    return _verdict(client, CORRECT if same else WRONG, f"{as_what}; {how}")


def _onnx_verdict(blob: bytes, x: torch.Tensor, expected: torch.Tensor) -> dict[str, str]:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
        name, wanted = session.get_inputs()[0].name, session.get_inputs()[0].type
        half = "float16" in wanted
        got = torch.from_numpy(session.run(None, {name: (x.half() if half else x).numpy()})[0])
    except Exception as exc:  # noqa: BLE001
        return _verdict("onnxruntime", FAILS, _first_line(exc))
    # A float16 graph computes in float16: its tolerance is float16's, not float32's (a wrong
    # network differs by tenths, or in shape; an overflow gives NaN, which no tolerance passes).
    same, how = _compare(got, expected, 2e-2 if half else 1e-4)
    if half:
        try:
            session.run(None, {name: x.numpy()})
            fed = "it also takes float32 input"
        except Exception:  # noqa: BLE001 - onnxruntime refuses the dtype: what a float32 caller meets
            fed = "float32 input is refused"
        how += f"; float16 graph: feed it float16 input, {fed}"
    return _verdict("onnxruntime", CORRECT if same else WRONG, how)


def client_verdicts(model: torch.nn.Module, blob: bytes, fmt: str, half: bool = False) -> list[dict[str, str]]:
    """Which clients load an exported file (``blob``, ``fmt`` safetensors or onnx, written from
    ``model``) correctly: one verdict per client in :data:`CLIENTS` (CORRECT, WRONG or FAILS, a
    detail and a printable line), measured by loading the bytes as that client does and comparing
    its output on a small random input with ``model``'s, whose weights are first rounded to float16
    for a ``half`` export (the file's own weights). Registers hggt's Spandrel extension."""
    from hggt.core.spandrel_rrdb import register

    register()
    reference = copy.deepcopy(model).float().eval().cpu()
    if half:
        reference.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    x = torch.rand(1, 3, CHECK_SIZE, CHECK_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
    if fmt == "onnx":
        wrong_format = "an ONNX file: Spandrel reads .pth, .pt, .ckpt and .safetensors, hggt export --format safetensors"
        return [_verdict("spandrel", FAILS, wrong_format), _verdict("spandrel+hggt", FAILS, wrong_format),
                _onnx_verdict(blob, x, expected)]
    if fmt != "safetensors":
        raise ValueError(f"unknown export format {fmt!r}; choose safetensors or onnx")
    fd, path = tempfile.mkstemp(suffix=".safetensors", prefix="hggt-export-check-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        found = [_spandrel_verdict(client, path, x, expected) for client in ("spandrel", "spandrel+hggt")]
    finally:
        os.unlink(path)
    return [*found, _verdict("onnxruntime", FAILS, "a safetensors file: onnxruntime reads the ONNX export, hggt export --format onnx")]
