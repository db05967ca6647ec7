"""Network architectures, one file each, written from their papers' descriptions; which network
a name stands for, its options and their paper defaults are in the registry (hggt.core.networks)."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from hggt.core.networks import network


def build_generator(arch: str, **options: Any) -> nn.Module:
    """The registry's network ``arch``. Options its size model names are validated by it and
    default to the paper's sizes; any other (``scale``, one of the registry entry's scales; SwinIR's
    img_size) goes to the constructor as given."""
    entry = network(arch)
    if options.get("scale", entry.scales[0]) not in entry.scales:
        raise ValueError(f"{arch} is a x{' / x'.join(map(str, entry.scales))} network, not x{options['scale']}")
    fields = entry.size.model_fields
    sized = entry.size.model_validate({k: v for k, v in options.items() if k in fields})
    rest = {k: v for k, v in options.items() if k not in fields}
    return entry.load()(**sized.model_dump(), **rest)


def payload_options(payload: dict) -> dict[str, Any]:
    """The complete constructor options of a trained-model file, older files included."""
    return {**network(payload["arch"]).legacy_options, **payload["options"]}


def generator_from_payload(payload: dict) -> nn.Module:
    """The network a trained-model file (enhancer or Real-ISR run) describes, in eval mode."""
    model = build_generator(payload["arch"], **payload_options(payload))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
