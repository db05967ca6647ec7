"""Pretrained weights hggt can use, resolved from the torch hub cache or a configured path; never
downloaded implicitly (``hggt weights fetch`` downloads them on purpose)."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Weights:
    name: str
    file: str
    url: str
    size: str
    used_for: str


KNOWN = {
    w.name: w
    for w in (
        Weights("vgg19", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "548 MB",
                "the perceptual loss of enhancer and Real-ISR training"),
        Weights("alexnet", "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                "233 MB", "LPIPS (its linear layers ship with the lpips package)"),
        Weights("vgg16", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth", "528 MB",
                "DISTS (its alpha and beta ship with the DISTS_pytorch package)"),
    )
}


class WeightsMissing(FileNotFoundError):
    pass


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def locate(name: str, configured: str | None = None) -> Path | None:
    w = KNOWN[name]
    for path in ([Path(configured).expanduser()] if configured else []) + [hub_checkpoint_dir() / w.file]:
        if path.is_file():
            return path
    return None


def require(name: str, configured: str | None = None, disable_hint: str = "") -> Path:
    """The weights file, or WeightsMissing naming the file, where to put it and how to go on without it."""
    path = locate(name, configured)
    if path is not None:
        return path
    w = KNOWN[name]
    looked = ", ".join(str(p) for p in ([Path(configured)] if configured else []) + [hub_checkpoint_dir() / w.file])
    raise WeightsMissing(
        f"{name} weights for {w.used_for} not found (looked in: {looked}). Download {w.url} ({w.size}) to "
        f"{hub_checkpoint_dir() / w.file} (or set TORCH_HOME), e.g. with `hggt weights fetch {name}` where there is "
        f"internet{'; ' + disable_hint if disable_hint else ''}."
    )


def status() -> list[dict]:
    return [{"name": w.name, "file": w.file, "present": locate(w.name) is not None, "path": str(hub_checkpoint_dir() / w.file),
             "size": w.size, "used_for": w.used_for} for w in KNOWN.values()]


def next_steps(name: str) -> list[str]:
    """What to do about one missing file, one short line each (a terminal of 80 columns keeps them
    whole): the command that downloads it, or where to put a copy got elsewhere."""
    w = KNOWN[name]
    return [f"hggt weights fetch {name}   (needs internet; {w.size})",
            f"or download {w.url}", f"and put it at {hub_checkpoint_dir() / w.file}"]


def fetch(name: str) -> Path:
    """Download one file into the torch hub cache (atomically: a partial download never counts)."""
    w = KNOWN[name]
    target = hub_checkpoint_dir() / w.file
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    with urllib.request.urlopen(w.url, timeout=60) as response, open(partial, "wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)
    partial.replace(target)
    return target
