"""Flow `report`: a self-contained HTML report of a dataset."""

from __future__ import annotations

import time

from prefect import flow

from flows._runtime import publish_summary
from hggt_core import storage
from tasks.report import report_task


@flow(name="report", log_prints=True)
def report_flow(out: str, examples: int = 6) -> dict:
    """Counts per stage, rejected inputs with reasons, labels and agreement, example sets with their
    labels, indication-map pictures and the metric tables of the runs: reports/dataset.html."""
    started = time.perf_counter()
    root = storage.normalize_root(out)
    return publish_summary("report", root, report_task(root, examples), started)
