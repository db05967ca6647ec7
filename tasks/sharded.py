"""The shard and merge tasks of a sharded stage, made from what differs between stages: how one
item is processed, and what the merge keeps (its artifact folders, its extra counts). Each stage
module keeps its own plan (what its items are) and names its tasks as before."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pyarrow as pa
from prefect import Task, task

from hggt_core.config import HGGTConfig
from tasks import faults
from tasks.caching import SHARD_CACHE
from tasks.progress import run_logger
from tasks.retries import RETRIES
from hggt_core.shard_engine import ItemOutput, PartResult, ShardHooks, ShardWork, finish_stage, run_shard

# Set when the flow run that submitted shards is being stopped (SIGTERM from a worker, Ctrl-C):
# shards still running stop before their next item, so the process exits in about one item's
# time instead of finishing every running shard first. Items done so far keep their records.
STOP = threading.Event()


def engine_hooks() -> ShardHooks:
    """The shard engine's hooks inside a task run: the run's logger (the dashboard), the flow's stop
    event, and the crash tests' fault injection."""
    return ShardHooks(run_logger(), STOP, faults.checkpoint)


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
        return run_shard(work, lambda item: process(item, work.root, cfg), engine_hooks())

    @task(name=merge_name, persist_result=False)
    def merge(root: str, results: list[PartResult], cfg: HGGTConfig, started_at: dt.datetime, cached: int) -> dict:
        return finish_stage(root, stage, manifest, results, cfg, code, started_at, cached, artifact_dirs(cfg), extra)

    return shard, merge
