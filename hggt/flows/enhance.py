"""Flow `enhance`: enhanced versions of every patch."""

from __future__ import annotations

from prefect import flow

from hggt.flows.publish import publish_examples
from hggt.flows.runners import thread_runner
from hggt.flows.sharding import sharded_stage
from hggt.flows.stage import Stage, run_name
from hggt.core import manifests
from hggt.tasks.annotation_export import refresh_published
from hggt.tasks.enhance import enhance_shard, merge_enhanced, plan_enhance


@flow(name="enhance", flow_run_name=run_name, task_runner=thread_runner(), log_prints=True)
def enhance_flow(out: str, preset: str | None = None, overrides: list[str] | None = None, config_file: str | None = None) -> dict:
    """Run every enhancer on every ingested HR image (tiled) and crop the results at the patch
    coordinates: `{version}/{patch_id}_{version}.png` and `enhanced.parquet`."""
    root, cfg = Stage.open(out, preset, overrides, config_file)
    # Progress in the summary's unit: enhanced patches (patches x versions), not images.
    summary = sharded_stage("enhance", root, cfg, lambda: plan_enhance(root, cfg), enhance_shard, merge_enhanced,
                            units=lambda item: len(item["patches"]) * len(item["models"]), unit="enhanced patches",
                            # at most an uncompressed RGB crop per enhanced patch
                            item_bytes=lambda item: len(item["patches"]) * len(item["models"]) * 3 * cfg.patches.crop_size ** 2,
                            # a running campaign's copies in annotation/images/ follow a recomputation
                            after_merge=lambda: {"relinked": refresh_published(root)})
    rows = manifests.read(root, "enhanced").to_pylist()
    if rows:
        first = rows[0]["patch_id"]
        original = next(r["uri"] for r in manifests.read(root, "patches").to_pylist() if r["patch_id"] == first)
        publish_examples("enhance", root, [(f"{first} original", original)]
                         + [(f"{first} version {r['version']}", r["uri"]) for r in rows if r["patch_id"] == first])
    return summary
