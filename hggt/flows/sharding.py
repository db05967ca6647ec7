"""Sharded execution of a stage: one task run per shard, progress in the dashboard, and shards whose
cached outputs are no longer intact computed again."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import posixpath
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from prefect import Task, get_run_logger
from prefect.futures import as_completed

from hggt.flows.publish import publish_summary
from hggt.core import catalog, storage
from hggt.core.config import HGGTConfig
from hggt.tasks.progress import DashboardProgress
from hggt.core.shard_engine import TALLY, PartResult, ShardWork, part_problems, parts_dir
from hggt.tasks.sharded import STOP

_PATHS = re.compile(r"[^ ]*/[^ ]*")  # a file or URL in an error message
ITEM_PROGRESS_S = 1.0  # how often items finished inside running shards are counted
RECORD_POLL_S = 3.0  # shards in other processes: how often their records are listed (one listing each time)


class ShardFailure(RuntimeError):
    pass


def run_shards(task: Task, works: list[ShardWork], stage: str, dashboard: DashboardProgress | None = None,
               units: Callable[[dict], int] | None = None, **kwargs: Any) -> tuple[list[PartResult], int]:
    """Submit one task run per shard, show progress, and re-run shards whose cached outputs are no
    longer intact. Returns the results in shard order and how many came from the cache. Progress
    counts ``units`` of each item (default 1: the unit of the stage's summary). A caller that
    passes its own ``dashboard`` waits for its last update itself."""
    logger = get_run_logger()
    # units of each item, and done after each item of a shard (items run in order), for progress while shards run
    each = [[units(item) if units else 1 for item in w.items] for w in works]
    prefix = [list(itertools.accumulate(u, initial=0)) for u in each]
    sizes = [p[-1] for p in prefix]
    # Shards on Dask workers or in a process pool tick a tally this process cannot see: their items
    # count as their records are written (an item kept from an earlier run counts when its shard ends).
    records = None if _runs_in_this_process() else _RecordWatch(works[0].root, works[0].stage) if works else None
    STOP.clear()
    TALLY.forget(works)
    futures = {task.submit(work=w, **kwargs): i for i, w in enumerate(works)}
    own_dashboard = dashboard is None
    dashboard = dashboard or DashboardProgress(stage, sum(sizes), works[0].root if works else None)
    results: list[PartResult | None] = [None] * len(works)
    cached_flags = [False] * len(works)
    finished = [False] * len(works)
    failures: list[tuple[int, BaseException]] = []

    def units_done() -> int:
        if records is not None:
            fresh = records.written()
            return sum(sizes[i] if finished[i] else sum(u for item, u in zip(w.items, each[i]) if item["item_id"] in fresh)
                       for i, w in enumerate(works))
        return sum(sizes[i] if finished[i] else prefix[i][min(TALLY.done(w), len(w.items))] for i, w in enumerate(works))

    ended = threading.Event()

    def watch_items() -> None:
        while not ended.wait(ITEM_PROGRESS_S):
            dashboard.update(units_done())

    watcher = threading.Thread(target=watch_items, name=f"{stage}-items", daemon=True)
    watcher.start()
    try:
        for future in as_completed(list(futures)):
            i = futures[future]
            outcome = future.result(raise_on_failure=False)
            if isinstance(outcome, BaseException):
                failures.append((i, outcome))
            else:
                cached_flags[i] = future.state.name == "Cached"
                # A cached result describes the run that computed it; this run computed nothing.
                results[i] = dataclasses.replace(outcome, computed=0, seconds=0.0, core_seconds=0.0) if cached_flags[i] else outcome
            finished[i] = True
            dashboard.update(units_done())
    except BaseException as exc:
        if not isinstance(exc, Exception):  # a termination signal or Ctrl-C, not a failed shard
            STOP.set()
        raise
    finally:
        ended.set()
        watcher.join()
        TALLY.forget(works)
        if own_dashboard:
            dashboard.wait()
    if failures:
        raise ShardFailure(failure_message(stage, works, failures))
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


def _runs_in_this_process() -> bool:
    from prefect.context import FlowRunContext
    from prefect.task_runners import ThreadPoolTaskRunner

    context = FlowRunContext.get()
    return context is None or isinstance(context.task_runner, ThreadPoolTaskRunner)


class _RecordWatch:
    """The items whose record was written since the watch began, from a listing of the stage's
    record folder (a file's time or size changes when it is rewritten), at most every RECORD_POLL_S."""

    def __init__(self, root: str, stage: str):
        self.fs, self.path = storage.url_to_fs(storage.join(root, catalog.item_records(stage)))
        self.before = self._listing()
        self.polled, self.fresh = time.monotonic(), set()

    def _listing(self) -> dict[str, tuple]:
        if not self.fs.exists(self.path):
            return {}
        self.fs.invalidate_cache(self.path)
        return {posixpath.basename(e["name"]).removesuffix(".json"): (e.get("mtime") or e.get("LastModified"), e.get("size"))
                for e in self.fs.ls(self.path, detail=True) if e["name"].endswith(".json")}

    def written(self) -> set[str]:
        if time.monotonic() - self.polled >= RECORD_POLL_S:
            self.fresh = {k for k, v in self._listing().items() if self.before.get(k) != v}
            self.polled = time.monotonic()
        return self.fresh


def _finished_items(root: str, stage: str) -> set[str]:
    """Items of the stage whose record is written (done, whatever process or machine ran them)."""
    fs, path = storage.url_to_fs(storage.join(parts_dir(root, stage), "items"))
    return {posixpath.basename(p).removesuffix(".json") for p in fs.ls(path, detail=False)} if fs.exists(path) else set()


def failure_message(stage: str, works: list[ShardWork], failures: list[tuple[int, BaseException]]) -> str:
    """One message for failed shards: each distinct cause once (a full disk fails every shard alike),
    with how many shards it stopped, and how many of their items were finished and are kept."""
    causes: dict[str, list[tuple[int, BaseException]]] = {}
    for i, exc in failures:  # the same cause with another file or item named is the same cause
        causes.setdefault(type(exc).__name__ + ": " + _PATHS.sub("<path>", str(exc)), []).append((i, exc))
    items = [item["item_id"] for i, _ in failures for item in works[i].items]
    kept = len(set(items) & _finished_items(works[0].root, works[0].stage)) if works else 0
    lines = [f"{len(failures)} of {len(works)} {stage} shards failed; "
             + (f"{kept} of their {len(items)} items were finished and are kept: " if kept else f"none of their {len(items)} items was finished: ")
             + "fix the cause, then run the same command again"]
    for same in causes.values():
        i, exc = same[0]
        more = f" (and {len(same) - 1} more shards with the same error)" if len(same) > 1 else ""
        lines.append(f"shard {i} ({len(works[i].items)} items, first {works[i].items[0]['item_id']}): {exc}{more}")
    return "\n".join(lines)


def preflight(stage: str, root: str, works: list[ShardWork], item_bytes: Callable[[dict], int] | None = None) -> None:
    """Before any item is computed: the dataset must accept files and, on a local disk, have room for
    the items not finished yet (``item_bytes``: an upper estimate of one item's output)."""
    needed = 0
    if item_bytes is not None and works:
        finished = _finished_items(root, works[0].stage)
        needed = sum(item_bytes(item) for w in works for item in w.items if item["item_id"] not in finished)
    storage.check_destination(root, needed, f"`hggt {stage}`")


def sharded_stage(stage: str, root: str, cfg: HGGTConfig, plan: Callable[[], list[ShardWork]], shard_task: Task, merge: Task,
                  units: Callable[[dict], int] | None = None, unit: str = "items", item_bytes: Callable[[dict], int] | None = None,
                  after_merge: Callable[[], dict] | None = None) -> dict:
    """Plan shards, run them (cached, with progress in ``units`` of each item), merge their parts,
    run ``after_merge`` (its counts join the summary), publish the summary. ``item_bytes``
    estimates an item's output for the free-space check."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    works = plan()
    preflight(stage, root, works, item_bytes)
    total = sum(sum(units(item) for item in w.items) if units else len(w.items) for w in works)
    dashboard = DashboardProgress(stage, total, root, unit=unit)
    try:
        results, cached = run_shards(shard_task, works, stage, dashboard=dashboard, units=units, cfg=cfg)
        summary = merge(root, results, cfg, started_at, cached)
        if after_merge is not None:
            summary.update(after_merge())
    finally:
        dashboard.wait()
    return publish_summary(stage, root, summary, started)
