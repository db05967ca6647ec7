"""Flow `extract-patches`: candidate crops on the paper's jittered grid, with texture statistics."""

from __future__ import annotations

from prefect import flow

from flows._runtime import default_task_runner, resolve_config, sharded_stage
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
    cfg = resolve_config(preset, overrides, config_file)
    root = storage.normalize_root(out)
    return sharded_stage("patches", root, cfg, lambda: plan_patches(root, cfg), extract_patch_shard, finalize_patches)
