"""Declared enhancers' tiled inference (tiles per second, CPU): a model file loaded through
Spandrel (a tiny random ESRGAN, 1x and 4x) run the way `hggt enhance` runs it, beside hggt's own
tiny RCAN on the same image and tiles. Baseline: the same ESRGAN module run by tiled_apply
directly, without hggt's wrapper (Spandrel's padding and clamping call); interleaved rounds
(benchmarks/timing.py). Target: the wrapper costs at most 5% (ratio >= 0.95)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from benchmarks import timing
from hggt.core.archs import build_generator
from hggt.core.declared_enhancers import DeclaredNet, describe, enhance_declared, load_descriptor
from hggt.core.tiling import auto_batch, tiled_apply, tiles

TILE, OVERLAP = 96, 12
TARGET = 0.95


def _declared(scale: int) -> DeclaredNet:
    from spandrel.architectures.ESRGAN import ESRGAN  # the architecture of many zoo models, at a tiny size

    torch.manual_seed(scale)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"esrgan-x{scale}.safetensors"
        save_file(ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=scale).state_dict(), str(path))
        return DeclaredNet(load_descriptor(path.read_bytes(), path.name)).eval()


def run() -> dict:
    torch.manual_seed(0)
    ours = build_generator("rcan", groups=1, blocks=2, channels=16, reduction=4).eval()
    x1, x4 = _declared(1), _declared(4)
    raw = x1.net  # the same weights without the wrapper
    image = torch.rand(1, 3, 768, 1024)
    count = len(tiles(768, 1024, TILE, OVERLAP))
    count4 = len(tiles(768 // 4, 1024 // 4, TILE // 4, OVERLAP))
    batch = auto_batch(torch.device("cpu"))
    assert torch.allclose(enhance_declared(x1, image, TILE, OVERLAP, 4), tiled_apply(raw, image, TILE, OVERLAP, 4).clamp(0, 1), atol=1e-5)
    stats = timing.interleaved({
        "ours": lambda: tiled_apply(ours, image, TILE, OVERLAP, batch),
        "declared": lambda: enhance_declared(x1, image, TILE, OVERLAP, batch),
        "raw": lambda: tiled_apply(raw, image, TILE, OVERLAP, batch),
    }, count, min_seconds=1.0)
    stats4 = timing.interleaved({"declared_x4": lambda: enhance_declared(x4, image, TILE, OVERLAP, batch)}, count4, min_seconds=1.0)
    ratio = timing.ratio(stats, "declared", "raw")
    facts1, facts4 = describe(x1.descriptor), describe(x4.descriptor)
    print(f"declared: {count} tiles of {TILE}+{OVERLAP} px per 1024x768 image, CPU ({torch.get_num_threads()} threads), "
          f"{len(stats['raw']['rounds'])} interleaved rounds")
    print(timing.line(f"ours (tiny RCAN, {sum(p.numel() for p in ours.parameters())} params)", stats["ours"], "tiles/s", 44))
    print(timing.line(f"declared {facts1['arch']} 1x ({facts1['parameters']} params)", stats["declared"], "tiles/s", 44)
          + f" {ratio:.2f}x the raw module")
    print(timing.line("same module, no wrapper (baseline)", stats["raw"], "tiles/s", 44))
    print(timing.line(f"declared {facts4['arch']} 4x on the 1/4 image ({count4} tiles)", stats4["declared_x4"], "tiles/s", 44))
    print(f"  {'wrapper vs raw module':<44}: {timing.verdict(ratio, TARGET)}")
    return {
        "tiles_per_image": count, "unit": "tiles/s", "ours": stats["ours"], "declared": stats["declared"], "baseline": stats["raw"],
        "declared_x4": stats4["declared_x4"], "tiles_per_image_x4": count4, "ratio": ratio, "target": TARGET, "target_met": ratio >= TARGET,
    }


if __name__ == "__main__":
    run()
