"""Flow `ingest`: scan an input folder, glob or URL and record every photo in images.parquet."""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow

from flows._runtime import default_task_runner, publish_summary, resolve_config, run_shards
from hggt_core import storage
from tasks.ingest import finalize_ingest, ingest_shard, plan_ingest


@flow(name="ingest", task_runner=default_task_runner(), log_prints=True)
def ingest_flow(
    input: str,
    out: str,
    preset: str = "paper",
    overrides: list[str] | None = None,
    config_file: str | None = None,
) -> dict:
    """Decode every image under `input` safely and write `<out>/manifests/images.parquet`."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    cfg = resolve_config(preset, overrides, config_file)
    root = storage.normalize_root(out)
    works = plan_ingest(input, root, cfg)
    results, cached = run_shards(ingest_shard, works, "ingest", cfg=cfg)
    summary = finalize_ingest(root, results, cfg, started_at, cached)
    return publish_summary("ingest", root, summary, started)
