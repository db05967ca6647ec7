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

from hggt.flows.progress import StageList
from hggt.flows.runners import execution, thread_runner
from hggt.flows.stage import flow_of, frozen_params, run_name
from hggt.core import storage
from hggt.core.stages import BUILD_STAGES as STAGES
from hggt.core.stages import BY_NAME
from hggt.tasks.runs_cleanup import mark_orphaned_runs


@flow(name="build-dataset", flow_run_name=run_name, task_runner=thread_runner(), log_prints=True)
def build_dataset_flow(
    input: str,
    out: str,
    preset: str | None = None,
    overrides: list[str] | None = None,
    config_file: str | None = None,
    until: str | None = None,
) -> dict:
    """Run every stage on the photos under `input`, writing the dataset to `out`; with `until`,
    stop after that stage. The CPU stages' shards run where the environment says (hggt.flows.runners:
    HGGT_TASK_RUNNER, HGGT_DASK_ADDRESS, HGGT_WORKERS), on one Dask cluster for the whole build."""
    if until is not None and until not in STAGES:
        raise ValueError(f"unknown stage {until!r}; choose one of {', '.join(STAGES)}")
    started = time.perf_counter()
    _mark_orphaned_runs(out)
    common = frozen_params(out, preset, overrides, config_file)  # one config for every stage
    with execution():
        return _run_stages(input, out, until, common, started)


def _run_stages(input: str, out: str, until: str | None, common: dict, started: float) -> dict:
    """The stages of hggt.core.stages in the paper's order. Each gets the dataset's parameters, and
    the photos or the dataset as its input."""
    names = STAGES[: STAGES.index(until) + 1] if until else STAGES
    given = {"photos": {"input": input}, "source": {"source": out}, None: {}}
    stages = {}
    board = StageList(storage.normalize_root(out), names)
    for name in names:
        entry = BY_NAME[name]
        run = flow_of(entry)
        stages[name] = board.run(name, lambda run=run, entry=entry: run(**given[entry.build_input], **common))
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


