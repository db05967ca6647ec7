"""Flows `degrade` and `synthesize-lr`: degradation synthesis (paper Eq. 1, SPEC section 2)."""

from __future__ import annotations

import datetime as dt
import json
import time

from prefect import flow

from flows._runtime import default_task_runner, publish_summary, resolve_config, run_shards
from hggt_core import storage
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
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    more = _with(overrides, **{"degrade.settings": settings, "degrade.samples_per_patch": samples_per_patch, "seed": seed})
    cfg = resolve_config(preset, more, config_file)
    root = storage.normalize_root(out)
    works = plan_degrade(input, root, cfg)
    results, cached = run_shards(degrade_shard, works, "degrade", cfg=cfg)
    summary = finalize_degrade(root, results, cfg, started_at, cached)
    return publish_summary("degrade", root, summary, started)


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
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    cfg = resolve_config(preset, _with(overrides, seed=seed), config_file)
    root = storage.normalize_root(out)
    works = plan_lr(input, root, cfg)
    results, cached = run_shards(lr_shard, works, "synthesize-lr", cfg=cfg)
    summary = finalize_lr(root, results, cfg, started_at, cached)
    return publish_summary("synthesize-lr", root, summary, started)
