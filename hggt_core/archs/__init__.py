"""Network architectures, one file each, written from their papers' descriptions."""

from __future__ import annotations

from typing import Any

import torch.nn as nn


def build_generator(arch: str, **options: Any) -> nn.Module:
    if arch == "rcan":
        from hggt_core.archs.rcan import RCAN

        return RCAN(**options)
    if arch == "elan":
        from hggt_core.archs.elan import ELAN

        return ELAN(**options)
    if arch == "rrdb":
        from hggt_core.archs.rrdbnet import RRDBNet

        return RRDBNet(**options)
    if arch == "swinir":
        from hggt_core.archs.swinir import SwinIR

        return SwinIR(**options)
    raise ValueError(f"unknown generator architecture {arch!r}; choose rcan, elan, rrdb or swinir")


# Options added after model files were already being written, with the value those files were
# trained with; a file that does not name an option gets this, never today's (paper) default.
LEGACY_OPTIONS: dict[str, dict[str, Any]] = {
    "rcan": {"img_range": 1.0},
    "elan": {"img_range": 1.0, "scaled_attention": True},
    "rrdb": {"upsampler": "nearest"},
    "swinir": {"upsampler": "nearest+conv"},
}


def payload_options(payload: dict) -> dict[str, Any]:
    """The complete constructor options of a trained-model file, older files included."""
    return {**LEGACY_OPTIONS.get(payload["arch"], {}), **payload["options"]}


def generator_from_payload(payload: dict) -> nn.Module:
    """The network a trained-model file (enhancer or Real-ISR run) describes, in eval mode."""
    model = build_generator(payload["arch"], **payload_options(payload))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
