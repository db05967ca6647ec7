"""Flows `degrade` and `synthesize-lr`: degradation synthesis (paper Eq. 1).

Both read the patches of the dataset at `source` (patches.parquet) and may write to another
dataset `out`; `source` is not called `input`, which names photos in every flow."""

from __future__ import annotations

from prefect import flow

from hggt.flows.publish import publish_examples
from hggt.flows.runners import stage_runner
from hggt.flows.sharding import sharded_stage
from hggt.flows.stage import Stage, run_name
from hggt.core import manifests
from hggt.tasks.degradations import degrade_shard, lr_shard, merge_degradations, merge_lr_test, plan_degrade, plan_lr


@flow(name="degrade", flow_run_name=run_name, task_runner=stage_runner(), log_prints=True)
def degrade_flow(
    source: str,
    out: str,
    preset: str | None = None,
    overrides: list[str] | None = None,
    config_file: str | None = None,
    settings: list[str] | None = None,
    samples_per_patch: int | None = None,
    seed: int | None = None,
) -> dict:
    """LQ images of every texture-passing patch of the dataset at `source` for each enhancement
    setting (Table 1), with every sampled parameter in `degradations.parquet` under `out`."""
    root, cfg = Stage.open(out, preset, overrides, config_file, settings=settings, samples_per_patch=samples_per_patch, seed=seed)
    summary = sharded_stage("degrade", root, cfg, lambda: plan_degrade(root, cfg, source), degrade_shard, merge_degradations)
    rows = manifests.read(root, "degradations").to_pylist()[:4]
    publish_examples("degrade", root, [(f"{r['sample_id']} ({r['kernel_type']}, {r['noise_type']}, q{r['jpeg_quality']})", r["uri"]) for r in rows])
    return summary


@flow(name="synthesize-lr", flow_run_name=run_name, task_runner=stage_runner(), log_prints=True)
def synthesize_lr_flow(
    source: str,
    out: str,
    preset: str | None = None,
    overrides: list[str] | None = None,
    config_file: str | None = None,
    seed: int | None = None,
) -> dict:
    """The fixed x4 LR test inputs (Table 2, one seeded draw per patch) in `lr_test.parquet`."""
    root, cfg = Stage.open(out, preset, overrides, config_file, seed=seed)
    return sharded_stage("synthesize-lr", root, cfg, lambda: plan_lr(root, cfg, source), lr_shard, merge_lr_test)
