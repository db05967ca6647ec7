"""What every stage flow shares: config resolution, sharded submission with progress, summaries."""

from __future__ import annotations

import base64
import contextvars
import dataclasses
import datetime as dt
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import yaml
from prefect import Task, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hggt_core import storage
from hggt_core.config import HGGTConfig, config_from_options
from tasks.shards import PartResult, ShardWork, part_problems

console = Console(stderr=True)
# Parallelism comes from the task runner's threads; OpenCV's own pool on top would oversubscribe.
cv2.setNumThreads(1)


RUNNERS = ("threads", "processes", "dask")
PROGRESS_INTERVAL_S = 1.0


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
               **kwargs: Any) -> tuple[list[PartResult], int]:
    """Submit one task run per shard, show progress, and re-run shards whose cached outputs are no
    longer intact. Returns the results in shard order and how many came from the cache. A caller
    that passes its own ``dashboard`` waits for its last update itself."""
    logger = get_run_logger()
    total_items = sum(len(w.items) for w in works)
    futures = {task.submit(work=w, **kwargs): i for i, w in enumerate(works)}
    own_dashboard = dashboard is None
    dashboard = dashboard or DashboardProgress(stage, total_items)
    results: list[PartResult | None] = [None] * len(works)
    cached_flags = [False] * len(works)
    failures: list[str] = []
    done_items, last_update = 0, time.monotonic()
    try:
        with _ProgressBar(stage, total_items) as (bar, bar_task):
            for future in as_completed(list(futures)):
                i = futures[future]
                outcome = future.result(raise_on_failure=False)
                if isinstance(outcome, BaseException):
                    failures.append(f"shard {i} ({len(works[i].items)} items, first {works[i].items[0]['item_id']}): {outcome!r}")
                else:
                    cached_flags[i] = future.state.name == "Cached"
                    # A cached result describes the run that computed it; this run computed nothing.
                    results[i] = dataclasses.replace(outcome, computed=0, seconds=0.0, core_seconds=0.0) if cached_flags[i] else outcome
                done_items += len(works[i].items)
                if bar is not None:
                    bar.update(bar_task, completed=done_items)
                # One API call per shard is wasted on fast shards; the dashboard needs a value a second.
                if done_items == total_items or time.monotonic() - last_update >= PROGRESS_INTERVAL_S:
                    dashboard.update(100.0 * done_items / max(total_items, 1))
                    last_update = time.monotonic()
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


class DashboardProgress:
    """The stage's progress artifact. Each update is an API round trip that the stage need not
    wait for (on a 100-photo ingest the three of them were 2% of the wall time), so they are sent
    from a background thread, in order; ``wait`` returns once all have been sent."""

    def __init__(self, stage: str, total_items: int):
        self._context = contextvars.copy_context()
        self._pending: list[float] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._context.run, args=(self._send, stage, total_items),
                                        name=f"{stage}-progress", daemon=True)
        self._thread.start()

    def update(self, percent: float) -> None:
        with self._cond:
            self._pending.append(percent)
            self._cond.notify()

    def wait(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _send(self, stage: str, total_items: int) -> None:
        try:
            self._post(stage, total_items)
        except Exception as exc:  # the dashboard going wrong must not fail the stage's work
            get_run_logger().warning("%s: could not update the progress artifact: %r", stage, exc)

    def _post(self, stage: str, total_items: int) -> None:
        artifact_id = create_progress_artifact(
            progress=0.0, key=f"{stage}-progress", description=f"{stage}: items done out of {total_items}"
        )
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                # Only the newest value matters when updates queue up behind a slow server.
                percent, self._pending = self._pending[-1], []
            update_progress_artifact(artifact_id, progress=percent)


class _ProgressBar:
    def __init__(self, stage: str, total: int):
        self.enabled = sys.stderr.isatty() and not os.environ.get("HGGT_NO_PROGRESS")
        self.stage, self.total = stage, total

    def __enter__(self):
        if not self.enabled:
            return None, None
        self.progress = Progress(
            TextColumn(f"[bold]{self.stage}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
        )
        self.progress.__enter__()
        return self.progress, self.progress.add_task(self.stage, total=self.total)

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.__exit__(*exc)


def sharded_stage(stage: str, root: str, cfg: HGGTConfig, plan: Callable[[], list[ShardWork]], shard_task: Task, finalize: Task) -> dict:
    """Plan shards, run them (cached, with progress), merge their parts, publish the summary."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    works = plan()
    dashboard = DashboardProgress(stage, sum(len(w.items) for w in works))
    try:
        results, cached = run_shards(shard_task, works, stage, dashboard=dashboard, cfg=cfg)
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
    create_markdown_artifact(key=f"{stage}-examples", markdown=f"# {stage}: examples\n\n{note}\n\n" + "\n\n".join(pictures))


def publish_summary(stage: str, root: str, summary: dict, started: float) -> dict:
    """Add timing, publish a table artifact to the dashboard and log the stage summary."""
    seconds = time.perf_counter() - started
    summary = {**summary, "seconds": round(seconds, 2), "out": root}
    summary["items_per_second"] = round(summary.get("items", 0) / seconds, 2) if seconds > 0 else None
    table = {k: v for k, v in summary.items() if k != "reasons"}
    create_table_artifact(
        key=f"{stage}-summary", table=[{"metric": k, "value": str(v)} for k, v in table.items()],
        description=f"hggt {stage}: summary of run {summary.get('run_id')}",
    )
    logger = get_run_logger()
    logger.info("%s summary: %s", stage, table)
    for item, reason in summary.get("reasons", [])[:20]:
        logger.warning("%s rejected %s: %s", stage, item, reason)
    return summary
