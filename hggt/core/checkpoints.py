"""Reading weight files safely: ours, BasicSR / Real-ESRGAN / ESRGAN `.pth` files and safetensors.

Every PyTorch file goes through ``torch.load(..., weights_only=True)``: unpickling a file can run
any code its author chose, and ``--init`` takes files downloaded from model zoos. Weights from
elsewhere are matched against the network a run builds, key by key, before any are copied, so a
file for another variant fails with the names that differ instead of training from a half-loaded
network.
"""

from __future__ import annotations

import io
import pickle
import re
import struct
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from hggt.core import storage

# Buffers the reference SwinIR saves but that are a function of the configuration (window size,
# training patch size), not learned: a file made at another patch size still initialises our model.
DERIVED_BUFFERS = ("relative_position_index", "attn_mask")

# The original ESRGAN repository's two generations of RRDBNet names, as BasicSR renamed them.
_ESRGAN_RENAMES = [
    (r"RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.", r"body.\1.rdb\2.conv\3."),
    (r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.", r"body.\1.rdb\2.conv\3."),
    (r"model\.1\.sub\.\d+\.", "conv_body."),  # the trunk's closing conv follows the last block
    (r"trunk_conv\.", "conv_body."), (r"upconv1\.", "conv_up1."), (r"upconv2\.", "conv_up2."),
    (r"HRconv\.", "conv_hr."), (r"model\.0\.", "conv_first."), (r"model\.3\.", "conv_up1."),
    (r"model\.6\.", "conv_up2."), (r"model\.8\.", "conv_hr."), (r"model\.10\.", "conv_last."),
]


class CheckpointError(ValueError):
    """A weight file that cannot be read, is refused as unsafe, or does not fit the model."""


def torch_load(data: bytes, name: str) -> Any:
    """A PyTorch file's content, unpickled with only tensors and plain Python containers allowed."""
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message is mostly advice to retry unsafely; keep only the line naming the object.
        detail = next((line.strip().split(". Please")[0] for line in str(exc).splitlines()
                       if re.search(r"unsupported.*global", line, re.IGNORECASE)), "")
        if not detail:  # an opcode the safe unpickler does not know: garbage rather than an object
            raise CheckpointError(f"{name}: not a readable PyTorch file (damaged or another format): {exc}") from None
        raise CheckpointError(
            f"{name}: refused to load: it holds Python objects other than tensors, numbers, strings, lists "
            f"and dicts, and unpickling those can run arbitrary code ({detail}). "
            "Re-save its weights with torch.save(model.state_dict(), path) or as .safetensors."
        ) from None
    except (RuntimeError, EOFError, ValueError, KeyError, struct.error) as exc:
        raise CheckpointError(f"{name}: not a readable PyTorch file (damaged or another format): {exc}") from None


def _is_safetensors(data: bytes, name: str) -> bool:
    if name.lower().endswith(".safetensors"):
        return True
    # A safetensors file opens with the little-endian length of its JSON header, then the header.
    if len(data) < 10:
        return False
    (size,) = struct.unpack("<Q", data[:8])
    return 0 < size <= len(data) - 8 and data[8:9] == b"{"


def _strip_module(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """DistributedDataParallel saves its wrapped network under `module.`."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def read_weights(data: bytes, name: str) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict in a weight file's bytes, and what kind of file it was."""
    if _is_safetensors(data, name):
        from safetensors.torch import load as load_safetensors

        try:
            return _strip_module(load_safetensors(data)), "safetensors file"
        except Exception as exc:  # safetensors raises its own Rust-side error type
            raise CheckpointError(f"{name}: not a readable safetensors file: {exc}") from None
    obj = torch_load(data, name)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{name}: holds a {type(obj).__name__}, not a state dict or a dict of them")
    if "state_dict" in obj and "arch" in obj:
        what = f"hggt model file (arch {obj['arch']}, mode {obj.get('mode', '-')}, run {obj.get('run_id', '-')})"
        state, where = obj["state_dict"], "state_dict"
    elif "params_ema" in obj or "params" in obj:
        # BasicSR keeps the EMA generator under params_ema when it trains with EMA: the one to start from.
        where = "params_ema" if "params_ema" in obj else "params"
        state, what = obj[where], f"BasicSR checkpoint ({where})"
    elif "trainer" in obj and "key" in obj:
        raise CheckpointError(f"{name}: an hggt training checkpoint; start from the run's model.pt instead")
    else:
        state, where, what = obj, "", "bare state dict"
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"{name}: no weights found (top-level keys: {_first(list(obj))})")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        inside = f" under {where!r}" if where else ""
        raise CheckpointError(f"{name}: not a state dict{inside}: {_first(bad)} are not tensors (top-level keys: {_first(list(obj))})")
    return _strip_module(dict(state)), what


def _esrgan_renamed(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    if not any(k.startswith(("RRDB_trunk.", "model.1.sub.")) for k in state):
        return None
    out = {}
    for key, value in state.items():
        for pattern, repl in _ESRGAN_RENAMES:
            new, n = re.subn("^" + pattern, repl, key)
            if n:
                key = new
                break
        out[key] = value
    return out


def _first(items: list, n: int = 5, sep: str = ", ") -> str:
    shown = sep.join(str(i) for i in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def describe(state: Mapping[str, torch.Tensor]) -> str:
    """A guess at the network a state dict belongs to, from its names and shapes."""
    keys = list(state)
    blocks = {m.group(1) for k in keys if (m := re.match(r"(?:body|RRDB_trunk|model\.1\.sub)\.(\d+)\.(?:rdb|RDB)1\.", k))}
    first = state.get("conv_first.weight", state.get("model.0.weight"))
    if blocks:
        size = f", {first.shape[0]} channels, {first.shape[1]} input channels" if first is not None and first.ndim == 4 else ""
        return f"an RRDB network ({len(blocks)} blocks{size})"
    if any(".residual_group." in k for k in keys):
        groups = {k.split(".")[1] for k in keys if k.startswith("layers.")}
        table = next((v for k, v in state.items() if k.endswith("relative_position_bias_table")), None)
        window = f", window {(int(table.shape[0] ** 0.5) + 1) // 2}" if table is not None else ""
        dim = f", embedding {first.shape[0]}" if first is not None else ""
        return f"a SwinIR ({len(groups)} residual groups{dim}{window})"
    return "an unrecognised network"


def _layout(keys: list[str]) -> str:
    """The top-level modules, e.g. `conv_first, body[23], conv_body, upsample`."""
    counts: dict[str, set[str]] = {}
    for k in keys:
        parts = k.split(".")
        counts.setdefault(parts[0], set())
        if len(parts) > 2 and parts[1].isdigit():
            counts[parts[0]].add(parts[1])
    return ", ".join(f"{m}[{len(c)}]" if c else m for m, c in counts.items())


def _mismatch(model_state: dict, state: dict) -> tuple[list[str], list[str], list[str]]:
    derived = lambda k: k.rsplit(".", 1)[-1] in DERIVED_BUFFERS  # noqa: E731
    missing = [k for k in model_state if k not in state and not derived(k)]
    unexpected = [k for k in state if k not in model_state and not derived(k)]
    shapes = [f"{k} {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
              for k, v in model_state.items() if k in state and state[k].shape != v.shape and not derived(k)]
    return missing, unexpected, shapes


def matching_state_dict(model: nn.Module, state: dict[str, torch.Tensor], name: str, what: str,
                        target: str = "the model") -> tuple[dict[str, torch.Tensor], str]:
    """``state`` renamed to the model's names where the file uses old ESRGAN ones, and ``what``
    saying so; raises CheckpointError naming the missing, unexpected and misshapen keys when it
    does not fit."""
    model_state = model.state_dict()
    candidates = [(state, what)]
    renamed = _esrgan_renamed(state)
    if renamed is not None:
        candidates.append((renamed, f"{what}, original ESRGAN names mapped to BasicSR's"))
    scored = [(_mismatch(model_state, s), s, w) for s, w in candidates]
    (missing, unexpected, shapes), best, what = min(scored, key=lambda t: sum(map(len, t[0])))
    if not (missing or unexpected or shapes):
        # Derived buffers of another size are rebuilt from the model's own configuration.
        return {k: v for k, v in best.items() if k in model_state and v.shape == model_state[k].shape}, what
    lines = [f"{name} ({what}; looks like {describe(state)}) does not fit {target}:"]
    if missing:
        lines.append(f"  missing from the file ({len(missing)} of the model's {len(model_state)} keys): {_first(missing)}")
    if unexpected:
        lines.append(f"  unexpected in the file ({len(unexpected)} of its {len(best)} keys): {_first(unexpected)}")
    if shapes:
        lines.append(f"  shape mismatches ({len(shapes)}): {_first(shapes, 3, '; ')}")
    lines.append(f"  file's modules:  {_layout(list(best))}")
    lines.append(f"  model's modules: {_layout(list(model_state))}")
    raise CheckpointError("\n".join(lines))


def load_weights(model: nn.Module, data: bytes, name: str, target: str = "the model") -> str:
    """Load a weight file's bytes into ``model`` (all of its keys, or nothing); returns what the file was."""
    state, what = read_weights(data, name)
    matched, what = matching_state_dict(model, state, name, what, target)
    model.load_state_dict(matched, strict=False)  # strict already checked above, derived buffers aside
    return what


def load_trained(url: str, sha256: str, rerun: str) -> dict:
    """A trained-model file's payload, refused when its bytes are not those recorded at training."""
    data = storage.read_bytes(url)
    if storage.sha256_bytes(data) != sha256:
        raise ValueError(f"model file {url} changed since training (sha256 differs); re-run `{rerun}`")
    return torch_load(data, url)
