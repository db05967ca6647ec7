"""What every stage flow shares: config resolution, sharded submission with progress, summaries."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import yaml
from prefect import Task, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import as_completed
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from hggt_core import storage
from hggt_core.config import HGGTConfig, config_from_options
from tasks.progress import DashboardProgress, artifact_key
from tasks.shards import PartResult, ShardWork, part_problems

# Parallelism comes from the task runner's threads; OpenCV's own pool on top would oversubscribe.
cv2.setNumThreads(1)


RUNNERS = ("threads", "processes", "dask")


def make_task_runner(kind: str | None = None, dask_address: str | None = None, workers: int | None = None) -> TaskRunner:
    """threads (default: decoding, filtering and PNG encoding release the GIL, so threads use every
    core), processes, or dask (an existing cluster at ``dask_address``, else a local one). The
    environment (HGGT_TASK_RUNNER, HGGT_DASK_ADDRESS, HGGT_WORKERS) sets the defaults, e.g. for
    deployments."""
    kind = kind or os.environ.get("HGGT_TASK_RUNNER", "threads")
    dask_address = dask_address or os.environ.get("HGGT_DASK_ADDRESS") or None
    workers = workers or int(os.environ.get("HGGT_WORKERS", os.cpu_count() or 2))
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "host": "127.0.0.1"})
    raise ValueError(f"unknown task runner {kind!r}; choose one of {', '.join(RUNNERS)}")


def default_task_runner() -> TaskRunner:
    return make_task_runner()


def with_runner(flow_obj, kind: str | None, dask_address: str | None = None, workers: int | None = None):
    """The flow with the chosen task runner (unchanged when nothing is chosen)."""
    if kind is None and dask_address is None and workers is None:
        return flow_obj
    return flow_obj.with_options(task_runner=make_task_runner(kind or ("dask" if dask_address else None), dask_address, workers))


def resolve_config(preset: str, overrides: list[str] | None, config_file: str | None) -> HGGTConfig:
    if not config_file:
        return config_from_options(preset, overrides)
    data = yaml.safe_load(storage.read_bytes(config_file)) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {config_file} must hold a mapping of sections")
    return config_from_options(data.pop("preset", preset), overrides, data)


class ShardFailure(RuntimeError):
    pass


def run_shards(task: Task, works: list[ShardWork], stage: str, dashboard: DashboardProgress | None = None,
               units: Callable[[dict], int] | None = None, **kwargs: Any) -> tuple[list[PartResult], int]:
    """Submit one task run per shard, show progress, and re-run shards whose cached outputs are no
    longer intact. Returns the results in shard order and how many came from the cache. Progress
    counts ``units`` of each item (default 1: the unit of the stage's summary). A caller that
    passes its own ``dashboard`` waits for its last update itself."""
    logger = get_run_logger()
    sizes = [sum(units(item) for item in w.items) if units else len(w.items) for w in works]
    futures = {task.submit(work=w, **kwargs): i for i, w in enumerate(works)}
    own_dashboard = dashboard is None
    dashboard = dashboard or DashboardProgress(stage, sum(sizes), works[0].root if works else None)
    results: list[PartResult | None] = [None] * len(works)
    cached_flags = [False] * len(works)
    failures: list[str] = []
    done = 0
    try:
        for future in as_completed(list(futures)):
            i = futures[future]
            outcome = future.result(raise_on_failure=False)
            if isinstance(outcome, BaseException):
                failures.append(f"shard {i} ({len(works[i].items)} items, first {works[i].items[0]['item_id']}): {outcome!r}")
            else:
                cached_flags[i] = future.state.name == "Cached"
                # A cached result describes the run that computed it; this run computed nothing.
                results[i] = dataclasses.replace(outcome, computed=0, seconds=0.0, core_seconds=0.0) if cached_flags[i] else outcome
            done += sizes[i]
            dashboard.update(done)
    finally:
        if own_dashboard:
            dashboard.wait()
    if failures:
        raise ShardFailure(f"{len(failures)} of {len(works)} {stage} shards failed; finished items are kept, re-run to retry:\n" + "\n".join(failures))
    stale, listings = [], {}
    for i, r in enumerate(results):
        problems = part_problems(works[i].root, r, listings) if cached_flags[i] else []
        for problem in problems[:10]:
            logger.warning("%s: %s; recomputing its shard", stage, problem)
        if problems:
            stale.append(i)
    if stale:
        logger.warning("%d cached %s shards have missing or altered outputs; recomputing them", len(stale), stage)
        refresh = task.with_options(refresh_cache=True)
        for i in stale:
            results[i] = refresh.submit(work=works[i], **kwargs).result()
            cached_flags[i] = False
    return [r for r in results if r is not None], sum(cached_flags)


def sharded_stage(stage: str, root: str, cfg: HGGTConfig, plan: Callable[[], list[ShardWork]], shard_task: Task, finalize: Task,
                  units: Callable[[dict], int] | None = None, unit: str = "items") -> dict:
    """Plan shards, run them (cached, with progress in ``units`` of each item), merge their parts,
    publish the summary."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    works = plan()
    total = sum(sum(units(item) for item in w.items) if units else len(w.items) for w in works)
    dashboard = DashboardProgress(stage, total, root, unit=unit)
    try:
        results, cached = run_shards(shard_task, works, stage, dashboard=dashboard, units=units, cfg=cfg)
        summary = finalize(root, results, cfg, started_at, cached)
    finally:
        dashboard.wait()
    return publish_summary(stage, root, summary, started)


def publish_examples(stage: str, root: str, uris: list[tuple[str, str]], note: str = "", size: int = 192) -> None:
    """A markdown artifact with a few of the stage's images (title, URI relative to the root),
    downscaled and inlined, so the dashboard shows what the stage made."""
    if not uris:
        return
    pictures = []
    for title, uri in uris:
        img = cv2.imdecode(np.frombuffer(storage.read_bytes(storage.resolve(root, uri)), np.uint8), cv2.IMREAD_COLOR)
        scale = size / max(img.shape[:2])
        if scale < 1:
            img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        ok, png = cv2.imencode(".png", img)
        pictures.append(f"![{title}](data:image/png;base64,{base64.b64encode(png.tobytes()).decode()}) `{title}`")
    create_markdown_artifact(key=artifact_key(f"{stage}-examples", root), markdown=f"# {stage}: examples\n\n{note}\n\n" + "\n\n".join(pictures),
                             description=f"hggt {stage}: example images of {root}")


def publish_summary(stage: str, root: str, summary: dict, started: float) -> dict:
    """Add timing, publish a table artifact to the dashboard and log the stage summary."""
    seconds = time.perf_counter() - started
    summary = {**summary, "seconds": round(seconds, 2), "out": root}
    summary["items_per_second"] = round(summary.get("items", 0) / seconds, 2) if seconds > 0 else None
    table = {k: v for k, v in summary.items() if k != "reasons"}
    create_table_artifact(
        key=artifact_key(f"{stage}-summary", root), table=[{"metric": k, "value": str(v)} for k, v in table.items()],
        description=f"hggt {stage}: summary of run {summary.get('run_id')} of {root}",
    )
    logger = get_run_logger()
    logger.info("%s summary: %s", stage, table)
    for item, reason in summary.get("reasons", [])[:20]:
        logger.warning("%s rejected %s: %s", stage, item, reason)
    return summary
