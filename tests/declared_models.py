"""Small model files of architectures Spandrel detects, with random weights, standing in for the
model zoos' files in tests (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file


def rrdb_state_dict(scale: int = 1, features: int = 8, blocks: int = 1, growth: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """An ESRGAN (BasicSR RRDBNet) state dict at a tiny size: the key names and shapes Spandrel's
    detection reads (Spandrel assumes ESRGAN's growth of 32). Like BasicSR, 1x and 2x models pixel-unshuffle their input (48 and 12 channels)."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def conv(name: str, cin: int, cout: int) -> None:
        sd[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (0.1 / cin**0.5)
        sd[f"{name}.bias"] = torch.zeros(cout)

    conv("conv_first", 3 * {1: 16, 2: 4, 4: 1}[scale], features)
    for b in range(blocks):
        for r in (1, 2, 3):
            for c in range(1, 6):
                conv(f"body.{b}.rdb{r}.conv{c}", features + (c - 1) * growth, growth if c < 5 else features)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        conv(name, features, features)
    conv("conv_last", features, 3)
    return sd


def save_rrdb(path: Path, scale: int = 1, **sizes) -> Path:
    """A tiny random ESRGAN as a .safetensors (or .pth) model file."""
    sd = rrdb_state_dict(scale, **sizes)
    if path.suffix == ".safetensors":
        save_file(sd, str(path))
    else:
        torch.save(sd, path)
    return path
