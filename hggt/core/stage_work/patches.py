"""One item of patch extraction (stage patches, paper Sec. 3.3): an ingested photo's texture
candidates cropped and written as original patches."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from hggt.core import catalog, manifests, storage
from hggt.core.config import HGGTConfig
from hggt.core.images import ImageRejected, decode_image, encode_png
from hggt.core.patches import candidates, crop, patch_id
from hggt.core.shard_engine.contract import ShardedStage
from hggt.core.shard_engine.work import ItemOutput

STAGE = "patches"


def _items(root: str, cfg: HGGTConfig, source: str | None = None) -> list[dict]:
    images = manifests.read(root, "images")
    ok = images.filter(pc.equal(images["status"], "ok")).select(["image_id", "uri", "sha256"])
    return [{"item_id": r["image_id"], "uri": r["uri"], "sha256": r["sha256"]} for r in ok.to_pylist()]


def _reject(item: dict, reason: str) -> ItemOutput:
    return ItemOutput(rejected=[{"stage": STAGE, "item_id": item["item_id"], "uri": item["uri"], "reason": reason}])


def _extract(item: dict, root: str, cfg: HGGTConfig) -> ItemOutput:
    image_id = item["item_id"]
    try:
        data = storage.read_bytes(item["uri"])
    except FileNotFoundError:
        return _reject(item, "missing: the file was moved or deleted after ingest; re-run `hggt ingest`")
    if storage.sha256_bytes(data) != item["sha256"]:
        return _reject(item, "changed since ingest (sha256 differs); re-run `hggt ingest`")
    try:
        rgb = decode_image(data, cfg.ingest.max_pixels).rgb
    except ImageRejected as exc:
        return _reject(item, str(exc))
    out = ItemOutput()
    size = cfg.patches.crop_size
    for cand in candidates(rgb, image_id, cfg.patches, cfg.seed):
        pid = patch_id(image_id, cand.row, cand.col)
        uri = catalog.original(pid)
        png = encode_png(crop(rgb, cand.row, cand.col, size), cfg.patches.png_compression)
        written = storage.atomic_write(storage.resolve(root, uri), png)
        out.rows.append(
            {
                "patch_id": pid, "image_id": image_id, "row": cand.row, "col": cand.col, "size": size,
                "gray_std": cand.gray_std, "lap_var": cand.lap_var, "texture_ok": cand.texture_ok,
                "uri": uri, "sha256": written.sha256, "bytes": written.size,
            }
        )
        out.artifacts.append((uri, written.size, written.sha256))
    return out


def _texture(table: pa.Table) -> dict:
    return {"texture_ok": int(pc.sum(table["texture_ok"]).as_py() or 0)}


PATCHES = ShardedStage("patches", STAGE, "patches", ("patches", "ingest"), lambda cfg: cfg.patches.shard_size, _items, _extract,
                      lambda cfg: (catalog.ORIGINAL_DIR,), _texture)
