"""Flow `report`: a self-contained HTML report of a dataset."""

from __future__ import annotations

import time

from prefect import flow

from hggt.flows.publish import publish_summary
from hggt.flows.runners import plain_runner
from hggt.core import storage
from hggt.tasks.report import report_task
from hggt.flows.stage import run_name


@flow(name="report", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def report_flow(out: str, examples: int = 6) -> dict:
    """One self-contained HTML file, reports/dataset.html: counts per stage, texture and difference
    histograms with the thresholds, label shares per version, votes and times per annotator, the
    held-out split, example sets that show the range, indication maps, the runs with their loss
    curves and Table 3 (every n/a with its reason), and rejected items grouped by reason. Sections
    of stages not built yet say which command builds them."""
    started = time.perf_counter()
    root = storage.normalize_root(out)
    return publish_summary("report", root, report_task(root, examples), started)
