"""Flow `build-dataset`: the HGGT pipeline end to end, stage by stage (paper Sec. 3-5).

1. ingest            HR photos -> images.parquet (rejected files recorded with reasons)
2. patches           512x512 candidates on a jittered grid, texture statistics -> patches.parquet
3. degrade           LQ versions of the textured patches, Table 1 settings 1 and 2 -> degradations.parquet
4. train-enhancers   RCAN and ELAN enhancers on Table 1 settings 1 and 2 -> enhancers.parquet
5. enhance           four enhanced versions of every patch -> enhanced.parquet
6. select            textured, most-changed patches become annotation sets -> sets.parquet
7. synthesize-lr     fixed x4 LR test inputs of the sets, Table 2 -> lr_test.parquet
8. annotate          three annotators per set label each version Positive/Similar/Negative;
                     the run pauses until they are done -> votes.parquet, labels.parquet
9. split             Test-100: sets with 2+ positives held out, whole photos at a time -> splits.parquet
10. maps             indication maps of every (positive, negative) pair -> maps.parquet
Real-ISR training (`hggt train-sr`, on the train side) and evaluation (on the test side) run on the
finished dataset.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger

from flows.annotate import annotate_flow
from flows.degrade import degrade_flow, synthesize_lr_flow
from flows.enhance import enhance_flow
from flows.ingest import ingest_flow
from flows.maps import maps_flow
from flows.patches import patches_flow
from flows.progress import StageList
from flows.runners import one_cluster, stage_runner, with_runner
from flows.select import select_flow
from flows.split import split_flow
from flows.stage import dataset_params, run_name
from flows.train_enhancers import train_enhancers_flow
from hggt_core import storage
from hggt_core.stages import BUILD_STAGES as STAGES
from tasks.runs_cleanup import mark_orphaned_runs


@flow(name="build-dataset", flow_run_name=run_name, task_runner=stage_runner(), log_prints=True)
def build_dataset_flow(
    input: str,
    out: str,
    preset: str | None = None,
    overrides: list[str] | None = None,
    config_file: str | None = None,
    until: str | None = None,
    task_runner: str | None = None,
    dask_address: str | None = None,
) -> dict:
    """Run every stage on the photos under `input`, writing the dataset to `out`; with `until`,
    stop after that stage. `task_runner` (threads, processes, dask) and `dask_address` choose where
    the CPU stages' shards run."""
    if until is not None and until not in STAGES:
        raise ValueError(f"unknown stage {until!r}; choose one of {', '.join(STAGES)}")
    started = time.perf_counter()
    _mark_orphaned_runs(out)
    common = dataset_params(out, preset, overrides, config_file)
    with one_cluster(task_runner, dask_address) as address:
        return _run_stages(input, out, until, common, lambda flow_obj: with_runner(flow_obj, task_runner, address), started)


def _run_stages(input: str, out: str, until: str | None, common: dict, cpu, started: float) -> dict:
    """The stages in the paper's order; ``cpu`` sets the task runner of the CPU stages."""
    steps = {
        "ingest": lambda: cpu(ingest_flow)(input=input, **common),
        "patches": lambda: cpu(patches_flow)(**common),
        "degrade": lambda: cpu(degrade_flow)(source=out, **common),
        "synthesize-lr": lambda: cpu(synthesize_lr_flow)(source=out, **common),
        "train-enhancers": lambda: train_enhancers_flow(**common),
        "enhance": lambda: enhance_flow(**common),
        "select": lambda: select_flow(**common),
        "annotate": lambda: annotate_flow(**common),
        "split": lambda: split_flow(**common),
        "maps": lambda: cpu(maps_flow)(**common),
    }
    stages = {}
    board = StageList(storage.normalize_root(out), STAGES[: STAGES.index(until) + 1] if until else STAGES)
    for name in STAGES:
        stages[name] = board.run(name, steps[name])
        if name == until:
            break
    return {"out": storage.normalize_root(out), "seconds": round(time.perf_counter() - started, 2), "stages": stages}


def _mark_orphaned_runs(out: str) -> None:
    """Runs of this dataset left Running by a killed process become Crashed with the true reason:
    the dashboard would otherwise show them running forever. Never a reason to stop the build."""
    try:
        marked = mark_orphaned_runs(out)
    except Exception as exc:  # noqa: BLE001 - bookkeeping of old runs must not fail a new one
        get_run_logger().warning("could not check for orphaned runs of %s: %s", out, exc)
        return
    if marked["flow_runs"] or marked["task_runs"]:
        get_run_logger().info("marked Crashed the runs a killed process left behind: %d flow runs, %d task runs",
                              len(marked["flow_runs"]), len(marked["task_runs"]))


