"""Flow `extract-patches`: candidate crops on the paper's jittered grid, with texture statistics."""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow

from flows._runtime import default_task_runner, publish_summary, resolve_config, run_shards
from flows.ingest import ingest_flow
from hggt_core import storage
from tasks.patches import extract_patch_shard, finalize_patches, plan_patches


@flow(name="extract-patches", task_runner=default_task_runner(), log_prints=True)
def extract_patches_flow(
    out: str,
    input: str | None = None,
    preset: str = "paper",
    overrides: list[str] | None = None,
    config_file: str | None = None,
) -> dict:
    """Write `original/{image}-{row}-{col}.png` for every candidate and `patches.parquet`.

    With `input`, ingests it first (cached when already done).
    """
    if input is not None:
        ingest_flow(input=input, out=out, preset=preset, overrides=overrides, config_file=config_file)
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    cfg = resolve_config(preset, overrides, config_file)
    root = storage.normalize_root(out)
    works = plan_patches(root, cfg)
    results, cached = run_shards(extract_patch_shard, works, "patches", cfg=cfg)
    summary = finalize_patches(root, results, cfg, started_at, cached)
    return publish_summary("patches", root, summary, started)
