"""Flow `split`: hold out the Test-100-style test sets, whole source photos at a time (SPEC section 9)."""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow

from flows._runtime import publish_summary, resolve_config
from hggt_core import storage
from tasks.split import STAGE, split_task


@flow(name="split", log_prints=True)
def split_flow(out: str, preset: str = "paper", overrides: list[str] | None = None, config_file: str | None = None) -> dict:
    """Write manifests/splits.parquet: up to `split.test_sets` sets with two or more positive versions
    on the test side, drawn photo by photo with the config seed; every other set of the other photos
    trains."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    cfg = resolve_config(preset, overrides, config_file)
    root = storage.normalize_root(out)
    return publish_summary(STAGE, root, split_task(root, cfg, started_at), started)
