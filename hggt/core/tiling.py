"""Tiled inference: images of any size through a network in overlapping tiles, batched.

Each tile's core (``tile`` x ``tile`` pixels) is run with ``overlap`` pixels of context on every
side (less at the image border) and only the core of the output is kept, so when the overlap
covers the network's receptive field the result equals running the whole image at once. Tiles of
equal shape run together in batches; on a CUDA out-of-memory error the tile size is halved.

The default batch (:func:`auto_batch`) is 8 on CUDA and 1 on CPUs. On a CPU, a convolution's
rounding depends on how many tiles share its pass (one level in a few pixels per million), so one
tile per pass keeps enhancement bit-reproducible, and batching rarely pays there anyway (it ran
0.4x to 1.14x a one-tile loop on the same machine). Batch AUTO (0), asked for explicitly, runs
the first tiles of each shape alternately one and four per pass, times them and keeps the faster
(one unless four is clearly faster) for that model, shape and thread count: sometimes faster,
not reproducible to the last level. No work is thrown away.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass

import torch
import torch.nn as nn

AUTO = 0  # tile_batch / batch value: choose (see the module doc)
_TRIALS = (1, 4, 1, 4)  # interleaved, so a slow spell of a shared machine hits both sizes
_MARGIN = 0.93  # batching must save 7% per tile: the loop's cost is the default
_CHOSEN: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


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
    """Run ``model`` on a (1, C, H, W) image tile by tile; returns (1, C', H*scale, W*scale) on the CPU.
    ``batch``: tiles per pass, or AUTO (0)."""
    device = next(model.parameters()).device
    if batch == AUTO and device.type == "cuda":
        batch = 8
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
    """Tiles per pass: 8 on GPUs, 1 on CPUs (bit-reproducible; see the module doc)."""
    return 8 if device.type == "cuda" else 1


class _Chooser:
    """Batch sizes for the tiles of one shape: the trials (their state kept with the model, so
    small groups of edge tiles share it across images), then the choice."""

    def __init__(self, model: nn.Module, key: tuple):
        memory = _CHOSEN.setdefault(model, {})
        self.state = memory.setdefault(key, {"per_tile": {}, "trial": 0, "choice": None})

    def next(self) -> int:
        return self.state["choice"] or _TRIALS[self.state["trial"]]

    def record(self, size: int, count: int, seconds: float) -> None:
        st = self.state
        if st["choice"] or count != size:
            return
        per_tile = st["per_tile"]
        per_tile[size] = min(per_tile.get(size, float("inf")), seconds / count)
        st["trial"] += 1
        if len(per_tile) == 2 and per_tile[4] > 2 * per_tile[1]:
            st["choice"] = 1  # no warm-up cost explains a factor of two: stop paying for the trials
        elif st["trial"] == len(_TRIALS):
            st["choice"] = 4 if per_tile[4] < _MARGIN * per_tile[1] else 1


def chosen_batches(model: nn.Module) -> dict:
    """The batch chosen for each (tile shape, channels, threads) key of ``model`` so far."""
    return {k: v["choice"] for k, v in _CHOSEN.get(model, {}).items()}


def _run(model, image, tile, overlap, batch, scale, amp_dtype, device, fmt) -> torch.Tensor:
    _, _, h, w = image.shape
    out = None
    groups: dict[tuple[int, int], list[Tile]] = defaultdict(list)
    for t in tiles(h, w, tile, overlap):
        cy0, cy1, cx0, cx1 = t.context
        groups[(cy1 - cy0, cx1 - cx0)].append(t)
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    for shape, members in groups.items():
        chooser = _Chooser(model, (shape, image.shape[1], torch.get_num_threads())) if batch == AUTO else None
        start = 0
        while start < len(members):
            size = chooser.next() if chooser else (batch if batch > 0 else 8)
            chunk = members[start : start + size]
            start += len(chunk)
            began = time.perf_counter()
            x = torch.cat([image[..., t.context[0] : t.context[1], t.context[2] : t.context[3]] for t in chunk])
            x = x.to(device).contiguous(memory_format=fmt)
            with autocast:
                y = model(x).float().cpu()
            if chooser:
                chooser.record(size, len(chunk), time.perf_counter() - began)
            if out is None:
                out = torch.empty((1, y.shape[1], h * scale, w * scale), dtype=torch.float32)
            for t, yi in zip(chunk, y):
                (y0, y1, x0, x1), (cy0, _, cx0, _) = t.core, t.context
                out[0, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = yi[
                    :, (y0 - cy0) * scale : (y1 - cy0) * scale, (x0 - cx0) * scale : (x1 - cx0) * scale
                ]
    return out
