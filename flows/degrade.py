"""Flows `degrade` and `synthesize-lr`: degradation synthesis (paper Eq. 1, SPEC section 2)."""

from __future__ import annotations

import json

from prefect import flow

from flows._runtime import default_task_runner, publish_examples, resolve_config, sharded_stage
from hggt_core import manifests, storage
from tasks.degradations import degrade_shard, finalize_degrade, finalize_lr, lr_shard, plan_degrade, plan_lr


def _with(overrides: list[str] | None, **values) -> list[str]:
    extra = [f"{key}={json.dumps(value)}" for key, value in values.items() if value is not None]
    return [*(overrides or []), *extra]


@flow(name="degrade", task_runner=default_task_runner(), log_prints=True)
def degrade_flow(
    input: str,
    out: str,
    preset: str = "paper",
    overrides: list[str] | None = None,
    config_file: str | None = None,
    settings: list[str] | None = None,
    samples_per_patch: int | None = None,
    seed: int | None = None,
) -> dict:
    """LQ images of every texture-passing patch of the dataset at `input` for each enhancement
    setting (Table 1), with every sampled parameter in `degradations.parquet` under `out`."""
    more = _with(overrides, **{"degrade.settings": settings, "degrade.samples_per_patch": samples_per_patch, "seed": seed})
    cfg = resolve_config(preset, more, config_file)
    root = storage.normalize_root(out)
    summary = sharded_stage("degrade", root, cfg, lambda: plan_degrade(input, root, cfg), degrade_shard, finalize_degrade)
    rows = manifests.read(root, "degradations").to_pylist()[:4]
    publish_examples("degrade", root, [(f"{r['sample_id']} ({r['kernel_type']}, {r['noise_type']}, q{r['jpeg_quality']})", r["uri"]) for r in rows])
    return summary


@flow(name="synthesize-lr", task_runner=default_task_runner(), log_prints=True)
def synthesize_lr_flow(
    input: str,
    out: str,
    preset: str = "paper",
    overrides: list[str] | None = None,
    config_file: str | None = None,
    seed: int | None = None,
) -> dict:
    """The fixed x4 LR test inputs (Table 2, one seeded draw per patch) in `lr_test.parquet`."""
    cfg = resolve_config(preset, _with(overrides, seed=seed), config_file)
    root = storage.normalize_root(out)
    return sharded_stage("synthesize-lr", root, cfg, lambda: plan_lr(input, root, cfg), lr_shard, finalize_lr)
