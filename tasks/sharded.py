"""The shard and merge tasks of a sharded stage, made from what differs between stages: how one
item is processed, and what the merge keeps (its artifact folders, its extra counts). Each stage
module keeps its own plan (what its items are) and names its tasks as before."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pyarrow as pa
from prefect import Task, task

from hggt_core.config import HGGTConfig
from tasks.caching import SHARD_CACHE
from tasks.retries import RETRIES
from tasks.shard_engine import ItemOutput, PartResult, ShardWork, finish_stage, run_shard


def shard_tasks(
    stage: str,
    manifest: str,
    code: str,
    process: Callable[[dict, str, HGGTConfig], ItemOutput],
    names: tuple[str, str],
    artifact_dirs: Callable[[HGGTConfig], tuple[str, ...]] = lambda cfg: (),
    extra: Callable[[pa.Table], dict] | None = None,
    tags: tuple[str, ...] = (),
) -> tuple[Task, Task]:
    """(shard task, merge task): the shard runs ``process(item, root, cfg)`` on each item not yet
    recorded (cached as a whole by its inputs); the merge writes ``manifest``, tidies
    ``artifact_dirs(cfg)`` and records the run, its counts extended by ``extra(table)``."""
    shard_name, merge_name = names

    @task(name=shard_name, tags=list(tags), cache_policy=SHARD_CACHE, persist_result=True, **RETRIES)
    def shard(work: ShardWork, cfg: HGGTConfig) -> PartResult:
        return run_shard(work, lambda item: process(item, work.root, cfg))

    @task(name=merge_name, persist_result=False)
    def merge(root: str, results: list[PartResult], cfg: HGGTConfig, started_at: dt.datetime, cached: int) -> dict:
        return finish_stage(root, stage, manifest, results, cfg, code, started_at, cached, artifact_dirs(cfg), extra)

    return shard, merge
