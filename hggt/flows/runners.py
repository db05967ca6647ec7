"""Where a flow's tasks run: threads, a process pool or a Dask cluster. Chosen one way: by the
environment a flow run starts in (HGGT_TASK_RUNNER, HGGT_DASK_ADDRESS, HGGT_WORKERS), which a
deployment sets as job variables and the CLI's options set for the command (:func:`execution`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from hggt.flows.startup import startup

RUNNERS = ("threads", "processes", "dask")


def _workers() -> int:
    return int(os.environ.get("HGGT_WORKERS") or os.cpu_count() or 2)


def _kind() -> str:
    kind = os.environ.get("HGGT_TASK_RUNNER") or "threads"
    if kind not in RUNNERS:
        raise ValueError(f"unknown task runner {kind!r}; choose one of {', '.join(RUNNERS)}")
    return kind


def make_task_runner() -> TaskRunner:
    """As the environment says: threads (default: decoding, filtering and PNG encoding release the
    GIL, so threads use every core), processes, or dask (the cluster at HGGT_DASK_ADDRESS, else a
    local one)."""
    kind = _kind()
    dask_address = os.environ.get("HGGT_DASK_ADDRESS") or None
    workers = _workers()
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":
        return ProcessPoolTaskRunner(max_workers=workers)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "host": "127.0.0.1"})


class StartingTaskRunner(ThreadPoolTaskRunner):
    """The task runner a flow is declared with. Prefect duplicates a flow's runner as each of its
    runs begins (before the run's heartbeats start); the duplicate is built then, by ``factory``,
    after :func:`flows.startup.startup`. So the environment is read when a run starts, not when the
    flow is decorated, and a flow module loaded by a deployment's worker gets the same process
    set-up as the CLI. Used directly (outside a flow run) it is a plain thread pool."""

    def __init__(self, factory: Callable[[], TaskRunner] = make_task_runner):
        super().__init__()
        self.factory = factory

    def duplicate(self) -> TaskRunner:
        startup()
        return self.factory()


def stage_runner() -> StartingTaskRunner:
    """Stages whose shards run on the chosen runner (the stage table's cpu_shards): threads,
    processes or Dask as the environment says."""
    return StartingTaskRunner()


def thread_runner() -> StartingTaskRunner:
    """Flows whose tasks run in this process (GPU stages, selection, a build's own bookkeeping):
    HGGT_WORKERS threads, whatever runner the CPU stages use."""
    return StartingTaskRunner(lambda: ThreadPoolTaskRunner(max_workers=_workers()))


def plain_runner(max_workers: int | None = None) -> StartingTaskRunner:
    """Flows whose tasks run one after another or in a few threads, whatever the environment says."""
    return StartingTaskRunner(lambda: ThreadPoolTaskRunner(max_workers=max_workers))


_VARIABLES = ("HGGT_TASK_RUNNER", "HGGT_DASK_ADDRESS", "HGGT_WORKERS")


@contextmanager
def execution(kind: str | None = None, dask_address: str | None = None, workers: int | None = None) -> Iterator[None]:
    """The flow runs started inside use the given runner, Dask scheduler and worker count (None:
    what the environment already says): they are set in the environment, the one place every flow
    run reads them from. A run on Dask without a scheduler address gets one local cluster for all
    its stages (each stage starting its own cost 4-6 s and logged "Lost all workers" as it closed).
    A wrong choice fails here, before any flow run starts."""
    given = {"HGGT_TASK_RUNNER": kind or ("dask" if dask_address else None), "HGGT_DASK_ADDRESS": dask_address,
             "HGGT_WORKERS": str(workers) if workers else None}
    before = {name: os.environ.get(name) for name in _VARIABLES}
    os.environ.update({name: value for name, value in given.items() if value is not None})
    try:
        if _kind() == "dask" and not os.environ.get("HGGT_DASK_ADDRESS"):
            from distributed import LocalCluster

            with LocalCluster(n_workers=_workers(), threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
                os.environ["HGGT_DASK_ADDRESS"] = cluster.scheduler_address
                yield
        else:
            yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
