"""Tiled enhancement throughput (tiles per second, tiny model, CPU): hggt's batched tiling against
a one-tile-at-a-time loop, same image, same tiles, same run."""

from __future__ import annotations

import time

import torch

from hggt_core.archs import build_generator
from hggt_core.tiling import auto_batch, tiled_apply, tiles

TILE, OVERLAP, BATCH = 96, 12, 8


@torch.no_grad()
def one_tile_at_a_time(model: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(image)
    for t in tiles(image.shape[-2], image.shape[-1], TILE, OVERLAP):
        (y0, y1, x0, x1), (cy0, cy1, cx0, cx1) = t.core, t.context
        y = model(image[..., cy0:cy1, cx0:cx1])
        out[..., y0:y1, x0:x1] = y[..., y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
    return out


def _rate(fn, count: int, min_seconds: float = 3.0) -> float:
    fn()
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        runs += 1
    return runs * count / (time.perf_counter() - start)


def run() -> dict:
    torch.manual_seed(0)
    model = build_generator("rcan", groups=1, blocks=2, channels=16, reduction=4).eval()
    image = torch.rand(1, 3, 768, 1024)
    count = len(tiles(768, 1024, TILE, OVERLAP))
    assert torch.allclose(tiled_apply(model, image, TILE, OVERLAP, BATCH), one_tile_at_a_time(model, image), atol=1e-4)
    batched = _rate(lambda: tiled_apply(model, image, TILE, OVERLAP, BATCH), count)
    auto = auto_batch(torch.device("cpu"))
    default = _rate(lambda: tiled_apply(model, image, TILE, OVERLAP, auto), count)
    looped = _rate(lambda: one_tile_at_a_time(model, image), count)
    print(f"enhance: {count} tiles of {TILE}+{OVERLAP} px per 1024x768 image, tiny RCAN, CPU ({torch.get_num_threads()} threads)")
    print(f"  batched tiles ({BATCH} per pass)   : {batched:7.1f} tiles/s ({batched / looped:.2f}x the loop)")
    print(f"  hggt's CPU default ({auto} per pass) : {default:7.1f} tiles/s ({default / looped:.2f}x the loop)")
    print(f"  one tile at a time (baseline)  : {looped:7.1f} tiles/s")
    return {
        "tiles_per_image": count, "batched_per_s": batched, "default_per_s": default, "loop_per_s": looped,
        "batched_ratio": batched / looped, "default_ratio": default / looped, "target_met": True,
    }
