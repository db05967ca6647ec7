"""Live progress (training iterations, build-dataset's stage list) and artifact keys scoped by dataset."""

from __future__ import annotations

import json

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import FlowRunSort

import hggt.tasks.progress as progress
from hggt.flows.patches import patches_flow
from hggt.flows.progress import StageList
from hggt.tasks.progress import DashboardProgress, artifact_key
from hggt.tasks.training_io import loss_logger
from tests.flows.conftest import write_good_photos


def _versions(key: str) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=50)


def _latest(key: str):
    found = _versions(key)
    assert found, f"no artifact {key}"
    return max(found, key=lambda a: a.created)


def _rows(table) -> dict:
    return {r["metric"]: r["value"] for r in (json.loads(table.data) if isinstance(table.data, str) else table.data)}


def test_keys_are_valid_and_differ_by_dataset(tmp_path):
    a, b = artifact_key("table3-Dataset_train sets", str(tmp_path / "a")), artifact_key("table3-Dataset_train sets", str(tmp_path / "b"))
    assert a != b and a.startswith("table3-dataset-train-sets-")
    assert all(c.islower() or c.isdigit() or c == "-" for c in a + b)
    assert artifact_key("x", str(tmp_path / "a")) == artifact_key("x", str(tmp_path / "a") + "/")  # the normalised root


def test_two_datasets_in_one_server_keep_their_own_cards(tmp_path):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=1)
    write_good_photos(tmp_path / "more", count=2)
    roots = [str(tmp_path / "first"), str(tmp_path / "second")]
    items = [patches_flow(out=root, input=str(src), preset="demo")["items"] for root, src in zip(roots, (photos, tmp_path / "more"))]
    assert items[0] != items[1]
    with get_client(sync_client=True) as client:  # runs named after the stage and the dataset, not adjective-animal
        recent = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=50)  # the server holds every test's runs
        runs = [r for r in recent if r.parameters.get("out") in roots]
    assert sorted((r.parameters["out"], r.name) for r in runs) == [
        (roots[0], "ingest first"), (roots[0], "patches first"), (roots[1], "ingest second"), (roots[1], "patches second")]
    for root, n in zip(roots, items):
        assert _rows(_latest(artifact_key("patches-summary", root)))["items"] == str(n)
        examples = _latest(artifact_key("patches-examples", root))
        assert examples.description and root in examples.description


def test_training_progress_shows_iterations_losses_and_eta(tmp_path):
    root = str(tmp_path / "ds")

    @flow
    def training_like() -> None:
        log, history = loss_logger("enhancer-01", "enhancer 01", 40, root, "train-enhancers", "enhancer 01", str(tmp_path / "run"))
        for it in range(10, 41, 10):
            log(it, {"l1": 0.5 / it, "gan": 0.25})
        log.close()

    training_like()
    done = _latest(artifact_key("train-enhancers-enhancer 01-progress", root))
    assert done.type == "progress" and float(done.data) == 100.0
    card = _latest(artifact_key("train-enhancers-enhancer 01-status", root))
    assert "40 / 40 iterations" in card.data and "0.0125" in card.data and card.description
    losses = _latest(artifact_key("enhancer-01-losses", root))
    assert [r["iteration"] for r in (json.loads(losses.data) if isinstance(losses.data, str) else losses.data)] == [10, 20, 30, 40]
    # four reports: one progress artifact updated in place, one status card and one loss table, not one per report
    assert [len(_versions(artifact_key(k, root))) for k in ("train-enhancers-enhancer 01-progress", "train-enhancers-enhancer 01-status",
                                                             "enhancer-01-losses")] == [1, 1, 1]
    assert "40/40 iterations, l1 0.0125" in done.description


def test_updates_are_throttled_and_plain_lines_printed_off_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("HGGT_NO_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)
    sent = []
    monkeypatch.setattr(progress, "update_progress_artifact", lambda artifact_id, progress, description: sent.append(progress))

    @flow
    def busy() -> None:
        bar = DashboardProgress("train-sr", 1000, "/data/x", unit="iterations", title="rrdb-posneg-1234abcd")
        for it in range(1, 1001):
            bar.update(it, {"l1": 0.031})
        bar.wait()

    busy()
    assert len(sent) <= 3 and sent[-1] == 100.0  # a thousand reports, at most one post a second
    err = capsys.readouterr().err
    assert "train-sr rrdb-posneg-1234abcd: 300/1000 iterations, l1 0.031, ETA" in err
    assert "1000/1000 iterations, l1 0.031" in err


def test_build_stage_list_marks_done_failed_and_pending(tmp_path):
    root = str(tmp_path / "ds")

    @flow
    def build_like() -> None:
        board = StageList(root, ("ingest", "patches", "degrade"))
        board.run("ingest", lambda: {"items": 3})
        board.run("patches", lambda: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        build_like()
    (card,) = _versions(artifact_key("build-dataset-stages", root))  # one card, when the build ended
    assert "| ingest | done | 3 |" in card.data and "| patches | failed |" in card.data and "| degrade | pending |" in card.data
    (bar,) = _versions(artifact_key("build-dataset-progress", root))  # one progress artifact, updated in place
    assert float(bar.data) == pytest.approx(100 / 3) and "1/3 stages done" in bar.description and "✗ patches" in bar.description


class Recorder:
    """A dashboard that keeps every value it is given."""

    def __init__(self):
        self.seen = []

    def update(self, done, *_):
        self.seen.append(done)

    def wait(self):
        pass


def _probe_works(root, items: int) -> list:
    from hggt.core.shard_engine import ShardWork

    return [ShardWork(stage="probe", manifest="images", root=str(root), shard_key=f"s{i}", config_hash="c", code_version="v",
                      items=tuple({"item_id": f"{i}-{j}"} for j in range(items))) for i in range(2)]


def test_sharded_progress_moves_with_items_not_only_when_a_shard_ends(tmp_path):
    import time

    from prefect import task

    from hggt.flows.sharding import run_shards
    from hggt.core.shard_engine import ItemOutput, run_shard

    @task(name="slow-shard")
    def slow_shard(work):
        return run_shard(work, lambda item: (time.sleep(0.2), ItemOutput())[1])

    works = _probe_works(tmp_path, 20)
    recorder = Recorder()
    flow(lambda: run_shards(slow_shard, works, "probe", dashboard=recorder, units=lambda item: 2))()
    # two shards of 20 items of 2 units each: before this change the bar went 0, 40, 80
    between = [d for d in recorder.seen if d not in (0, 40, 80)]
    assert len(between) >= 3 and recorder.seen == sorted(recorder.seen) and recorder.seen[-1] == 80, recorder.seen


def _slow_item(item):
    import time

    from hggt.core.shard_engine import ItemOutput

    time.sleep(0.25)
    return ItemOutput()


def _process_shard(work):
    from hggt.core.shard_engine import run_shard

    return run_shard(work, _slow_item)


@pytest.mark.slow
def test_sharded_progress_moves_with_items_when_shards_run_in_other_processes(tmp_path):
    from prefect import task
    from prefect.task_runners import ProcessPoolTaskRunner

    from hggt.flows.sharding import run_shards

    works = _probe_works(tmp_path, 24)
    recorder = Recorder()
    shard = task(name="process-shard")(_process_shard)
    flow(lambda: run_shards(shard, works, "probe", dashboard=recorder), task_runner=ProcessPoolTaskRunner(max_workers=2))()
    # two shards of 24 items in two worker processes (6 s each): the tally of this process never
    # moves, so before the record watch the bar went 0, 24, 48
    between = [d for d in recorder.seen if d not in (0, 24, 48)]
    assert len(between) >= 2 and recorder.seen == sorted(recorder.seen) and recorder.seen[-1] == 48, recorder.seen


def test_the_eta_follows_the_recent_rate_not_a_burst_at_the_start(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    monkeypatch.setenv("HGGT_NO_PROGRESS", "1")
    bar = DashboardProgress("enhance", 1000, None)  # outside a flow run: no dashboard, nothing sent
    bar.update(500)  # half the items were cached: done at once
    for _ in range(300):  # then 1 item a second
        clock[0] += 1.0
        bar.update(bar._latest[0] + 1)
    bar.wait()
    # 200 items left at 1 a second: 200 s (the average since the start would say 120 s)
    assert bar.eta(800) == pytest.approx(200, rel=0.02)
