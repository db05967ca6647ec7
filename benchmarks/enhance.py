"""Tiled enhancement throughput (tiles per second, tiny model, CPU): hggt's default (one tile per
pass on CPUs: bit-reproducible), the measured choice (`enhance.tile_batch=-1`: one or four per
pass, timed on the first tiles) and eight tiles per pass against a one-tile-at-a-time loop, same
image, same tiles, interleaved rounds (benchmarks/timing.py). Target: the default is not slower
than the loop; "not slower" allows 5% for the timing noise of identical work."""

from __future__ import annotations

import torch

from benchmarks import timing
from hggt.core.archs import build_generator
from hggt.core.tiling import AUTO, auto_batch, chosen_batches, tiled_apply, tiles

TILE, OVERLAP, BATCH = 96, 12, 8
TARGET = 0.95


@torch.no_grad()
def one_tile_at_a_time(model: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(image)
    for t in tiles(image.shape[-2], image.shape[-1], TILE, OVERLAP):
        (y0, y1, x0, x1), (cy0, cy1, cx0, cx1) = t.core, t.context
        y = model(image[..., cy0:cy1, cx0:cx1])
        out[..., y0:y1, x0:x1] = y[..., y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
    return out


def run() -> dict:
    torch.manual_seed(0)
    model = build_generator("rcan", groups=1, blocks=2, channels=16, reduction=4).eval()
    image = torch.rand(1, 3, 768, 1024)
    count = len(tiles(768, 1024, TILE, OVERLAP))
    assert torch.allclose(tiled_apply(model, image, TILE, OVERLAP, BATCH), one_tile_at_a_time(model, image), atol=1e-4)
    auto = auto_batch(torch.device("cpu"))
    stats = timing.interleaved({
        "default": lambda: tiled_apply(model, image, TILE, OVERLAP, auto),
        "measured": lambda: tiled_apply(model, image, TILE, OVERLAP, AUTO),
        "batched": lambda: tiled_apply(model, image, TILE, OVERLAP, BATCH),
        "loop": lambda: one_tile_at_a_time(model, image),
    }, count, min_seconds=1.0)
    chosen = sorted({v for v in chosen_batches(model).values() if v})
    ratio, batched_ratio = timing.ratio(stats, "default", "loop"), timing.ratio(stats, "batched", "loop")
    measured_ratio = timing.ratio(stats, "measured", "loop")
    print(f"enhance: {count} tiles of {TILE}+{OVERLAP} px per 1024x768 image, tiny RCAN, CPU ({torch.get_num_threads()} threads), "
          f"{len(stats['loop']['rounds'])} interleaved rounds")
    print(timing.line(f"batched ({BATCH} per pass)", stats["batched"], "tiles/s", 30) + f" {batched_ratio:.2f}x the loop")
    print(timing.line(f"measured (chose {chosen})", stats["measured"], "tiles/s", 30) + f" {measured_ratio:.2f}x the loop")
    print(timing.line(f"hggt's default ({auto} per pass)", stats["default"], "tiles/s", 30) + f" {ratio:.2f}x the loop")
    print(timing.line("one tile at a time (baseline)", stats["loop"], "tiles/s", 30))
    print(f"  {'default vs loop':<30}: {timing.verdict(ratio, TARGET)}")
    return {
        "tiles_per_image": count, "unit": "tiles/s", "default": stats["default"], "batched": stats["batched"],
        "baseline": stats["loop"], "measured": stats["measured"], "measured_chose": chosen, "measured_ratio": measured_ratio, "batched_ratio": batched_ratio, "ratio": ratio,
        "target": TARGET, "target_met": ratio >= TARGET,
    }
