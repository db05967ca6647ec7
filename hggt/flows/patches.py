"""Flow `patches`: candidate crops on the paper's jittered grid, with texture statistics."""

from __future__ import annotations

from prefect import flow

from hggt.flows.ingest import ingest_flow
from hggt.flows.publish import publish_examples
from hggt.flows.runners import stage_runner
from hggt.flows.sharding import sharded_stage
from hggt.flows.stage import Stage, dataset_params, run_name
from hggt.core import manifests
from hggt.tasks.annotation_export import refresh_published
from hggt.tasks.patches import extract_patch_shard, merge_patches, plan_patches


@flow(name="patches", flow_run_name=run_name, task_runner=stage_runner(), log_prints=True)
def patches_flow(
    out: str,
    input: str | None = None,
    preset: str | None = None,
    overrides: list[str] | None = None,
    config_file: str | None = None,
) -> dict:
    """Write `original/{image}-{row}-{col}.png` for every candidate and `patches.parquet`.

    With `input`, ingests it first (cached when already done).
    """
    if input is not None:
        ingest_flow(input=input, **dataset_params(out, preset, overrides, config_file))
    root, cfg = Stage.open(out, preset, overrides, config_file)
    summary = sharded_stage("patches", root, cfg, lambda: plan_patches(root, cfg), extract_patch_shard, merge_patches,
                            after_merge=lambda: {"relinked": refresh_published(root)})
    rows = manifests.read(root, "patches").to_pylist()
    publish_examples("patches", root, [(r["patch_id"], r["uri"]) for r in rows if r["texture_ok"]][:4]
                     + [(r["patch_id"] + " (no texture)", r["uri"]) for r in rows if not r["texture_ok"]][:2])
    return summary
