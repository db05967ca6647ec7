"""Flows `enhance` and `select`: enhanced versions of every patch, and the sets to annotate."""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow

from flows._runtime import default_task_runner, publish_examples, publish_summary, resolve_config, sharded_stage
from hggt_core import manifests, storage
from tasks.annotation_export import refresh_published
from tasks.enhance import enhance_shard, finalize_enhance, plan_enhance, select_task


@flow(name="enhance", task_runner=default_task_runner(), log_prints=True)
def enhance_flow(out: str, preset: str = "paper", overrides: list[str] | None = None, config_file: str | None = None) -> dict:
    """Run every enhancer on every ingested HR image (tiled) and crop the results at the patch
    coordinates: `{version}/{patch_id}_{version}.png` and `enhanced.parquet`."""
    cfg = resolve_config(preset, overrides, config_file)
    root = storage.normalize_root(out)
    # Progress in the summary's unit: enhanced patches (patches x versions), not images.
    summary = sharded_stage("enhance", root, cfg, lambda: plan_enhance(root, cfg), enhance_shard, finalize_enhance,
                            units=lambda item: len(item["patches"]) * len(item["models"]), unit="enhanced patches")
    rows = manifests.read(root, "enhanced").to_pylist()
    if rows:
        first = rows[0]["patch_id"]
        original = next(r["uri"] for r in manifests.read(root, "patches").to_pylist() if r["patch_id"] == first)
        publish_examples("enhance", root, [(f"{first} original", original)]
                         + [(f"{first} version {r['version']}", r["uri"]) for r in rows if r["patch_id"] == first])
    return summary


@flow(name="select", task_runner=default_task_runner(), log_prints=True)
def select_flow(out: str, preset: str = "paper", overrides: list[str] | None = None, config_file: str | None = None) -> dict:
    """Keep patches where any of the five versions is textured, rank them by how much the
    enhancers changed them, and write the top N as annotation sets (`sets.parquet`)."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    cfg = resolve_config(preset, overrides, config_file)
    root = storage.normalize_root(out)
    summary = select_task(root, cfg, started_at)
    summary["relinked"] = refresh_published(root)
    return publish_summary("select", root, summary, started)
