"""Where a flow's tasks run: threads, a process pool or a Dask cluster, chosen by the CLI's options
or, for deployments, by the environment (HGGT_TASK_RUNNER, HGGT_DASK_ADDRESS, HGGT_WORKERS) as
each flow run starts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.startup import startup

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
    """CPU stages: threads, processes or Dask as the environment says."""
    return StartingTaskRunner()


def plain_runner(max_workers: int | None = None) -> StartingTaskRunner:
    """Flows whose tasks run one after another or in a few threads, whatever the environment says."""
    return StartingTaskRunner(lambda: ThreadPoolTaskRunner(max_workers=max_workers))


@contextmanager
def one_cluster(kind: str | None, dask_address: str | None, workers: int | None = None) -> Iterator[str | None]:
    """For a run of several stages on Dask without a scheduler address: one local cluster for all
    of them (each stage starting its own cost 4-6 s and logged "Lost all workers" as it closed);
    yields its address, or ``dask_address`` unchanged when there is nothing to start."""
    kind = kind or os.environ.get("HGGT_TASK_RUNNER")
    dask_address = dask_address or os.environ.get("HGGT_DASK_ADDRESS") or None
    if kind != "dask" or dask_address:
        yield dask_address
        return
    from distributed import LocalCluster

    workers = workers or int(os.environ.get("HGGT_WORKERS", os.cpu_count() or 2))
    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        before = os.environ.get("HGGT_DASK_ADDRESS")
        os.environ["HGGT_DASK_ADDRESS"] = cluster.scheduler_address  # stages that read the environment join it too
        try:
            yield cluster.scheduler_address
        finally:
            if before is None:
                os.environ.pop("HGGT_DASK_ADDRESS", None)
            else:
                os.environ["HGGT_DASK_ADDRESS"] = before


def with_runner(flow_obj, kind: str | None, dask_address: str | None = None, workers: int | None = None):
    """The flow with the chosen task runner (unchanged when nothing is chosen). A wrong choice
    fails here, before any flow run starts."""
    if kind is None and dask_address is None and workers is None:
        return flow_obj
    chosen = make_task_runner(kind or ("dask" if dask_address else None), dask_address, workers)
    return flow_obj.with_options(task_runner=StartingTaskRunner(chosen.duplicate))
