"""One item of the enhance stage (paper Sec. 3.2): every chosen enhancer applied to an ingested
photo, tiled, and its patches cropped from the result with their texture statistics."""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np
import torch

from hggt.core import catalog, manifests, storage
from hggt.core.archs import generator_from_payload
from hggt.core.checkpoints import load_trained
from hggt.core.config import HGGTConfig
from hggt.core.declared_enhancers import DeclaredNet, enhance_declared, inference_dtype, load_descriptor
from hggt.core.images import ImageRejected, decode_image, encode_png
from hggt.core.patches import crop_textures
from hggt.core.selection import mean_difference
from hggt.core.shard_engine.contract import ShardedStage
from hggt.core.shard_engine.work import ItemOutput
from hggt.core.tiling import AUTO, auto_batch, tiled_apply
from hggt.core.training.trainer import resolve_device

ENHANCE = "enhance"
DECLARED = "declared"  # enhancers.parquet's kind of a model adopted from a file, not trained


def _items(root: str, cfg: HGGTConfig, source: str | None = None) -> list[dict]:
    images = {r["image_id"]: r for r in manifests.read(root, "images").to_pylist() if r["status"] == "ok"}
    enhancers = sorted(manifests.read(root, "enhancers").to_pylist(), key=lambda r: r["version"])
    wanted = cfg.enhancers.names
    models = [{"version": r["version"], "uri": r["checkpoint_uri"], "sha256": r["sha256"],
               **({"declared": True} if r.get("kind") == DECLARED else {})} for r in enhancers if r["version"] in wanted]
    missing = sorted(set(wanted) - {m["version"] for m in models})
    if missing:
        raise ValueError(f"enhancers {missing} are not trained or recorded yet: run `hggt train-enhancers` first")
    declared = {s.version for s in cfg.enhancers.declared}
    stale = sorted(m["version"] for m in models if ("declared" in m) != (m["version"] in declared))
    if stale:
        raise ValueError(f"enhancers {stale} are recorded as another kind (trained or declared) than the config says: "
                         "run `hggt train-enhancers` first")
    by_image = defaultdict(list)
    for p in manifests.read(root, "patches").select(["patch_id", "image_id", "row", "col", "size"]).to_pylist():
        by_image[p["image_id"]].append([p["patch_id"], p["row"], p["col"], p["size"]])
    items = [
        {"item_id": image_id, "uri": images[image_id]["uri"], "sha256": images[image_id]["sha256"], "patches": sorted(patches), "models": models}
        for image_id, patches in sorted(by_image.items()) if image_id in images
    ]
    return items


@lru_cache(maxsize=8)
def _declared(url: str, sha256: str, device: str) -> DeclaredNet:
    """A declared enhancer's copy in the dataset as a module on ``device``, after checking that it is
    the file train-enhancers recorded."""
    try:
        data = storage.read_bytes(url)
    except FileNotFoundError:
        raise FileNotFoundError(f"declared enhancer file {url} is missing; re-run `hggt train-enhancers`") from None
    if storage.sha256_bytes(data) != sha256:
        raise ValueError(f"declared enhancer file {url} changed since train-enhancers recorded it; re-run `hggt train-enhancers`")
    net = DeclaredNet(load_descriptor(data, url)).to(device)
    return net.to(memory_format=torch.channels_last) if device.startswith("cuda") else net


@lru_cache(maxsize=8)
def _model(url: str, sha256: str, device: str) -> torch.nn.Module:
    model = generator_from_payload(load_trained(url, sha256, "hggt train-enhancers")).to(device)
    return model.to(memory_format=torch.channels_last) if device.startswith("cuda") else model


def _enhance_item(item: dict, root: str, cfg: HGGTConfig) -> ItemOutput:
    def reject(reason: str) -> ItemOutput:
        return ItemOutput(rejected=[{"stage": ENHANCE, "item_id": item["item_id"], "uri": item["uri"], "reason": reason}])

    try:
        data = storage.read_bytes(item["uri"])
    except FileNotFoundError:
        return reject("missing: the HR image was moved or deleted after ingest")
    if storage.sha256_bytes(data) != item["sha256"]:
        return reject("changed since ingest (sha256 differs); re-run `hggt ingest`")
    try:
        rgb = decode_image(data, cfg.ingest.max_pixels).rgb
    except ImageRejected as exc:
        return reject(str(exc))
    device = resolve_device(cfg.enhance.device)
    amp = torch.bfloat16 if device.type == "cuda" and cfg.enhance.amp else None
    cuda = device.type == "cuda"
    x = torch.tensor(rgb).permute(2, 0, 1)[None].float() / 255.0  # a copy: decoded arrays are read-only
    positions = np.array([[r, c] for _, r, c, _ in item["patches"]], dtype=np.int64)
    size = item["patches"][0][3]
    out = ItemOutput()
    batch = AUTO if cfg.enhance.tile_batch == -1 else cfg.enhance.tile_batch or auto_batch(device)
    for m in item["models"]:
        if "declared" in m:
            net = _declared(storage.resolve(root, m["uri"]), m["sha256"], str(device))
            y = enhance_declared(net, x, cfg.enhance.tile, cfg.enhance.overlap, batch, inference_dtype(net, device, cfg.enhance.amp), cuda)
        else:
            model = _model(storage.resolve(root, m["uri"]), m["sha256"], str(device))
            y = tiled_apply(model, x, cfg.enhance.tile, cfg.enhance.overlap, batch, amp_dtype=amp, channels_last=cuda)
        enhanced = (y[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        textures = crop_textures(enhanced, positions, cfg.patches.model_copy(update={"crop_size": size}))
        for (pid, r, c, s), (std, lap_var, texture_ok) in zip(item["patches"], textures):
            crop = np.ascontiguousarray(enhanced[r : r + s, c : c + s])
            uri = catalog.enhanced(m["version"], pid)
            written = storage.atomic_write(storage.resolve(root, uri), encode_png(crop, cfg.patches.png_compression))
            out.rows.append({
                "patch_id": pid, "version": m["version"], "uri": uri, "sha256": written.sha256, "bytes": written.size,
                "mean_abs_diff": mean_difference(rgb[r : r + s, c : c + s], crop),
                "gray_std": std, "lap_var": lap_var, "texture_ok": texture_ok,
            })
            out.artifacts.append((uri, written.size, written.sha256))
    return out


ENHANCEMENT = ShardedStage("enhance", ENHANCE, "enhanced", ("enhance", "patches"), lambda cfg: cfg.enhance.shard_size, _items, _enhance_item,
                           lambda cfg: cfg.enhancers.names)
