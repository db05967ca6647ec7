"""Prefect tasks of the ingest stage: list the input, inspect shards of images, merge."""

from __future__ import annotations

import datetime as dt

from prefect import task

from hggt.core import manifests, storage
from hggt.core.config import HGGTConfig
from hggt.core.ingest import image_ids, inspect_image, mark_duplicates
from hggt.tasks.caching import SHARD_CACHE
from hggt.tasks.code_closure import code_version_of
from hggt.tasks.retries import RETRIES
from hggt.core.stage_runs import record_stage_run
from hggt.core.shard_engine import ItemOutput, PartResult, ShardWork, merge_parts, merge_rejected, prune_parts, run_shard, shard_items
from hggt.tasks.sharded import engine_hooks

STAGE = "ingest"
CODE = code_version_of(__name__)


@task(name="plan-ingest", persist_result=False)
def plan_ingest(input_url: str, root: str, cfg: HGGTConfig) -> list[ShardWork]:
    files = storage.list_files(input_url, cfg.ingest.extensions)
    ids = image_ids([f.relpath for f in files])
    items = [{"item_id": i, "uri": f.url, "relpath": f.relpath, "fingerprint": f.ukey} for i, f in zip(ids, files)]
    config_hash = cfg.section_hash("ingest") + str(cfg.min_image_size())
    return [
        ShardWork(STAGE, "images", root, key, config_hash, CODE, chunk)
        for key, chunk in shard_items(STAGE, items, cfg.ingest.shard_size)
    ]


def _ingest_item(item: dict, max_pixels: int, min_size: int) -> ItemOutput:
    row = {"image_id": item["item_id"], "uri": item["uri"], "relpath": item["relpath"]}
    try:
        data = storage.read_bytes(item["uri"])
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        row.update(status="rejected", reason=f"unreadable: {type(exc).__name__}: {exc}")
        return ItemOutput(rows=[row])
    row.update(bytes=len(data), sha256=storage.sha256_bytes(data))
    row.update(inspect_image(data, max_pixels, min_size))
    return ItemOutput(rows=[row])


@task(name="ingest-shard", cache_policy=SHARD_CACHE, persist_result=True, **RETRIES)
def ingest_shard(work: ShardWork, cfg: HGGTConfig) -> PartResult:
    return run_shard(work, lambda item: _ingest_item(item, cfg.ingest.max_pixels, cfg.min_image_size()), engine_hooks())


@task(name="merge-images", persist_result=False)
def merge_images(root: str, results: list[PartResult], cfg: HGGTConfig, started_at: dt.datetime, cached: int) -> dict:
    rows = mark_duplicates(merge_parts(results, "images").to_pylist())
    table = manifests.to_table("images", rows)
    manifests.write_if_changed(root, "images", table)
    rejected_rows = [
        {"stage": STAGE, "item_id": r["image_id"], "uri": r["uri"], "reason": r["reason"]}
        for r in rows
        if r["status"] != "ok"
    ]
    manifests.write_if_changed(root, "rejected", merge_rejected(root, STAGE, [], rejected_rows))
    prune_parts(root, STAGE, results)
    counts = {
        "items": len(rows),
        "ok": sum(r["status"] == "ok" for r in rows),
        "rejected": len(rejected_rows),
        "shards": len(results),
        "shards_cached": cached,
        "computed": sum(r.computed for r in results),
        "core_seconds": round(sum(r.core_seconds for r in results), 3),
    }
    counts["run_id"] = record_stage_run(root, STAGE, cfg, CODE, started_at, counts)
    counts["reasons"] = [(r["image_id"], r["reason"]) for r in rows if r["status"] != "ok"]
    return counts
