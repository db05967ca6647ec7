"""Every stage publishes progress, a summary table and example images; read back through the
Prefect API."""

from __future__ import annotations

import json
import logging


from hggt.flows.degrade import degrade_flow
from hggt.flows.patches import patches_flow
from hggt.tasks.progress import artifact_key
from tests.flows.conftest import latest_artifact, write_good_photos


def test_stage_artifacts_can_be_read_back(tmp_path):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=2)
    root = str(tmp_path / "ds")
    summary = patches_flow(out=root, input=str(photos), preset="demo")
    degrade_flow(source=root, out=root, preset="demo")
    for stage, items in (("patches", summary["items"]), ("degrade", None)):
        progress = latest_artifact(artifact_key(f"{stage}-progress", root))
        assert progress.type == "progress" and float(progress.data) == 100.0
        table = latest_artifact(artifact_key(f"{stage}-summary", root))
        rows = {r["metric"]: r["value"] for r in (json.loads(table.data) if isinstance(table.data, str) else table.data)}
        assert {"items", "rejected", "shards_cached", "seconds", "items_per_second"} <= set(rows)
        if items is not None:
            assert rows["items"] == str(items)
        examples = latest_artifact(artifact_key(f"{stage}-examples", root))
        assert examples.type == "markdown" and examples.data.count("data:image/png;base64,") >= 2


def test_progress_is_sent_in_the_background_and_belongs_to_the_flow_run():
    from prefect import flow
    from prefect.runtime import flow_run

    from hggt.tasks.progress import DashboardProgress

    @flow
    def stage_like() -> str:
        progress = DashboardProgress("background-check", 3)
        for done in (1, 2, 3):
            progress.update(done)
        progress.wait()
        return flow_run.id

    run_id = stage_like()
    artifact = latest_artifact("background-check-progress")
    assert float(artifact.data) == 100.0
    assert str(artifact.flow_run_id) == run_id


def test_the_run_log_carries_the_progress_line_for_watchers(monkeypatch):
    """`prefect deployment run --watch` streams the run's logs and events; artifact updates arrive
    as bare events, so the counts and losses must be in the log (once a minute, and at the end)."""
    import time

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.runtime import flow_run

    import hggt.tasks.progress
    from hggt.tasks.progress import DashboardProgress

    monkeypatch.setattr(hggt.tasks.progress, "RUN_LOG_INTERVAL_S", 0.0)
    run_logs = logging.getLogger("prefect.flow_runs")
    level = run_logs.level
    run_logs.setLevel(logging.INFO)  # the test session logs warnings only (setLevel also clears logging's cache)

    @flow
    def training_like() -> str:
        progress = DashboardProgress("watch-check", 40, unit="iterations")
        for done in (10, 20, 40):
            progress.update(done, {"l1": 0.07})
            time.sleep(1.2)
        progress.wait()
        return flow_run.id

    try:
        run_id = training_like()
    finally:
        run_logs.setLevel(level)
    lines: list[str] = []
    for _ in range(30):  # logs are sent in batches
        with get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        lines = [log.message for log in logs if log.message.startswith("watch-check:")]
        if "watch-check: 40/40 iterations, l1 0.07" in lines:
            break
        time.sleep(0.5)
    assert "watch-check: 40/40 iterations, l1 0.07" in lines and any(line.startswith("watch-check: 10/40 iterations, l1 0.07, ETA") for line in lines), lines


def test_a_failing_dashboard_does_not_fail_the_stage(monkeypatch, caplog):
    import hggt.tasks.progress as runtime
    import hggt.tasks.progress

    def refuse(**kwargs):
        raise ConnectionError("server went away")

    monkeypatch.setattr(hggt.tasks.progress, "create_progress_artifact", refuse)

    from prefect import flow

    @flow
    def stage_like() -> int:
        progress = runtime.DashboardProgress("refused", 1)
        progress.update(1)
        progress.wait()
        return 7

    assert stage_like() == 7
    assert any("could not update the progress artifact" in r.getMessage() and "server went away" in r.getMessage()
               for r in caplog.records)
