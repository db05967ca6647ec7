"""Flow `ingest`: scan an input folder, glob or URL and record every photo in images.parquet."""

from __future__ import annotations

from prefect import flow

from hggt.flows.runners import stage_runner
from hggt.flows.sharding import sharded_stage
from hggt.flows.stage import Stage, run_name
from hggt.tasks.ingest import ingest_shard, merge_images, plan_ingest


@flow(name="ingest", flow_run_name=run_name, task_runner=stage_runner(), log_prints=True)
def ingest_flow(
    input: str,
    out: str,
    preset: str | None = None,
    overrides: list[str] | None = None,
    config_file: str | None = None,
) -> dict:
    """Decode every image under `input` safely and write `<out>/manifests/images.parquet`."""
    root, cfg = Stage.open(out, preset, overrides, config_file)
    summary = sharded_stage("ingest", root, cfg, lambda: plan_ingest(input, root, cfg), ingest_shard, merge_images)
    if summary["ok"] == 0:
        # Stop here, with the manifests written: every later stage would fail on nothing, with an
        # error about patches or enhancers that hides the real cause.
        raise ValueError(f"0 usable images in {input} ({summary['rejected']} rejected: see manifests/rejected.parquet)")
    return summary
