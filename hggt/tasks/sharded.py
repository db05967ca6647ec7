"""The plan, shard and merge tasks of a sharded stage, made from its contract
(hggt.core.shard_engine.contract.ShardedStage: its items, how one item is processed, what the
merge keeps); each stage's task module only names them."""

from __future__ import annotations

import datetime as dt
import threading

from prefect import Task, task

from hggt.core.config import HGGTConfig
from hggt.core.shard_engine import PartResult, ShardHooks, ShardWork, finish_stage, run_shard
from hggt.core.shard_engine.contract import ShardedStage
from hggt.tasks import faults
from hggt.tasks.caching import SHARD_CACHE
from hggt.tasks.progress import run_logger
from hggt.tasks.retries import RETRIES

# Set when the flow run that submitted shards is being stopped (SIGTERM from a worker, Ctrl-C):
# shards still running stop before their next item, so the process exits in about one item's
# time instead of finishing every running shard first. Items done so far keep their records.
STOP = threading.Event()


def engine_hooks() -> ShardHooks:
    """The shard engine's hooks inside a task run: the run's logger (the dashboard), the flow's stop
    event, and the crash tests' fault injection."""
    return ShardHooks(run_logger(), STOP, faults.checkpoint)


def stage_tasks(stage: ShardedStage, code: str, names: tuple[str, str, str], tags: tuple[str, ...] = ()) -> tuple[Task, Task, Task]:
    """(plan, shard, merge) tasks of ``stage``: the plan lists its shards; a shard runs
    ``stage.process`` on each item not yet recorded (cached as a whole by its inputs); the merge
    writes its manifest, tidies its artifact folders and records the run (``code``: its version)."""
    plan_name, shard_name, merge_name = names

    @task(name=plan_name, persist_result=False)
    def plan(root: str, cfg: HGGTConfig, source: str | None = None) -> list[ShardWork]:
        return stage.works(root, cfg, code, source)

    @task(name=shard_name, tags=list(tags), cache_policy=SHARD_CACHE, persist_result=True, **RETRIES)
    def shard(work: ShardWork, cfg: HGGTConfig) -> PartResult:
        return run_shard(work, lambda item: stage.process(item, work.root, cfg), engine_hooks())

    @task(name=merge_name, persist_result=False)
    def merge(root: str, results: list[PartResult], cfg: HGGTConfig, started_at: dt.datetime, cached: int) -> dict:
        return finish_stage(root, stage.name, stage.manifest, results, cfg, code, started_at, cached, stage.artifact_dirs(cfg), stage.extra)

    return plan, shard, merge
