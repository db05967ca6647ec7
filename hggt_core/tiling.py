"""Tiled inference: images of any size through a network in overlapping tiles, batched.

Each tile's core (``tile`` x ``tile`` pixels) is run with ``overlap`` pixels of context on every
side (less at the image border) and only the core of the output is kept, so when the overlap
covers the network's receptive field the result equals running the whole image at once. Tiles of
equal shape run together in batches; on a CUDA out-of-memory error the tile size is halved.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class Tile:
    core: tuple[int, int, int, int]  # y0, y1, x0, x1 of the pixels this tile decides
    context: tuple[int, int, int, int]  # the input region it is run on


def tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    out = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            ctx = (max(0, y0 - overlap), min(height, y1 + overlap), max(0, x0 - overlap), min(width, x1 + overlap))
            out.append(Tile((y0, y1, x0, x1), ctx))
    return out


@torch.no_grad()
def tiled_apply(
    model: nn.Module,
    image: torch.Tensor,
    tile: int = 480,
    overlap: int = 24,
    batch: int = 4,
    scale: int = 1,
    amp_dtype: torch.dtype | None = None,
    min_tile: int = 32,
    channels_last: bool = False,
) -> torch.Tensor:
    """Run ``model`` on a (1, C, H, W) image tile by tile; returns (1, C', H*scale, W*scale) on the CPU."""
    device = next(model.parameters()).device
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    while True:
        try:
            return _run(model, image, tile, overlap, batch, scale, amp_dtype, device, fmt)
        except torch.cuda.OutOfMemoryError:
            if tile // 2 < min_tile:
                raise
            torch.cuda.empty_cache()
            tile //= 2


def auto_batch(device: torch.device) -> int:
    """Tiles per pass: batching pays on GPUs; on CPUs it measured slower (caches), so one."""
    return 8 if device.type == "cuda" else 1


def _run(model, image, tile, overlap, batch, scale, amp_dtype, device, fmt) -> torch.Tensor:
    _, _, h, w = image.shape
    out = None
    groups: dict[tuple[int, int], list[Tile]] = defaultdict(list)
    for t in tiles(h, w, tile, overlap):
        cy0, cy1, cx0, cx1 = t.context
        groups[(cy1 - cy0, cx1 - cx0)].append(t)
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    for members in groups.values():
        for start in range(0, len(members), batch):
            chunk = members[start : start + batch]
            x = torch.cat([image[..., t.context[0] : t.context[1], t.context[2] : t.context[3]] for t in chunk])
            x = x.to(device).contiguous(memory_format=fmt)
            with autocast:
                y = model(x).float().cpu()
            if out is None:
                out = torch.empty((1, y.shape[1], h * scale, w * scale), dtype=torch.float32)
            for t, yi in zip(chunk, y):
                (y0, y1, x0, x1), (cy0, _, cx0, _) = t.core, t.context
                out[0, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = yi[
                    :, (y0 - cy0) * scale : (y1 - cy0) * scale, (x0 - cx0) * scale : (x1 - cx0) * scale
                ]
    return out
