"""Flow `split`: hold out the Test-100-style test sets, whole source photos at a time (paper Sec. 5)."""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow

from hggt.flows.publish import publish_summary
from hggt.flows.runners import plain_runner
from hggt.flows.stage import Stage, run_name
from hggt.tasks.split import STAGE, split_task


@flow(name="split", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def split_flow(out: str, preset: str | None = None, overrides: list[str] | None = None, config_file: str | None = None) -> dict:
    """Write manifests/splits.parquet: up to `split.test_sets` sets with two or more positive versions
    on the test side, drawn photo by photo with the config seed; every other set of the other photos
    trains."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    root, cfg = Stage.open(out, preset, overrides, config_file)
    return publish_summary(STAGE, root, split_task(root, cfg, started_at), started)
