"""Flow `select`: textured, most-changed patches become the sets people annotate."""

from __future__ import annotations

import datetime as dt
import time

from prefect import flow

from hggt.flows.publish import publish_summary
from hggt.flows.runners import thread_runner
from hggt.flows.stage import Stage, run_name
from hggt.tasks.annotation_export import refresh_published
from hggt.tasks.select import select_task


@flow(name="select", flow_run_name=run_name, task_runner=thread_runner(), log_prints=True)
def select_flow(out: str, preset: str | None = None, overrides: list[str] | None = None, config_file: str | None = None,
                top_n: int | None = None, min_diff: float | None = None) -> dict:
    """Keep patches where the original or any enhanced version is textured, rank them by how much the
    enhancers changed them, and write the top `top_n` (default: select.top_n) at least `min_diff` apart
    from the original as annotation sets (`sets.parquet`)."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    root, cfg = Stage.open(out, preset, overrides, config_file, top_n=top_n, min_diff=min_diff)
    summary = select_task(root, cfg, started_at)
    summary["relinked"] = refresh_published(root)
    return publish_summary("select", root, summary, started)
