"""Flow `export-dataset`: the labelled dataset in the published HGGT layout (Train/ and Test/
trees of images/<range>/{original,01..04}/ and labels/<range>/{A,B,C}/), for the authors' code."""

from __future__ import annotations

import time

from prefect import flow

from hggt.flows.publish import publish_summary
from hggt.flows.runners import plain_runner
from hggt.core import storage
from hggt.core.annotation.export_layout import RANGE_SIZE
from hggt.tasks.export_dataset import STAGE, existing_files, finish_export, plan_export, write_range
from hggt.flows.stage import run_name


@flow(name="export-dataset", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def export_dataset_flow(out: str, dest: str, range_size: int = RANGE_SIZE) -> dict:
    """Write every labelled set of `out` under `dest`, by its side of splits.parquet (excluded sets
    are left out), one task run per range folder; files already there with the same bytes are kept."""
    started = time.perf_counter()
    root, dest = storage.normalize_root(out), storage.normalize_root(dest)
    if root == dest:
        raise ValueError("--dest must differ from --out: the export is a separate tree in the published layout")
    plan = plan_export(root, range_size)
    existing = existing_files(dest)
    futures = [write_range.submit(dest=dest, sets=r["sets"], existing=existing) for r in plan["ranges"]]
    results = [f.result() for f in futures]
    return publish_summary(STAGE, root, finish_export(root, dest, plan, results, existing), started)
