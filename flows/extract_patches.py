"""Flow `extract-patches`: candidate crops on the paper's jittered grid, with texture statistics."""

from __future__ import annotations

from prefect import flow

from flows._runtime import default_task_runner, publish_examples, resolve_config, sharded_stage, with_runner
from flows.ingest import ingest_flow
from hggt_core import manifests, storage
from tasks.patches import extract_patch_shard, finalize_patches, plan_patches


@flow(name="extract-patches", task_runner=default_task_runner(), log_prints=True)
def extract_patches_flow(
    out: str,
    input: str | None = None,
    preset: str = "paper",
    overrides: list[str] | None = None,
    config_file: str | None = None,
    task_runner: str | None = None,
    dask_address: str | None = None,
) -> dict:
    """Write `original/{image}-{row}-{col}.png` for every candidate and `patches.parquet`.

    With `input`, ingests it first (cached when already done).
    """
    if input is not None:
        ingest = with_runner(ingest_flow, task_runner, dask_address)
        ingest(input=input, out=out, preset=preset, overrides=overrides, config_file=config_file)
    cfg = resolve_config(preset, overrides, config_file)
    root = storage.normalize_root(out)
    summary = sharded_stage("patches", root, cfg, lambda: plan_patches(root, cfg), extract_patch_shard, finalize_patches)
    rows = manifests.read(root, "patches").to_pylist()
    publish_examples("patches", root, [(r["patch_id"], r["uri"]) for r in rows if r["texture_ok"]][:4]
                     + [(r["patch_id"] + " (no texture)", r["uri"]) for r in rows if not r["texture_ok"]][:2])
    return summary
