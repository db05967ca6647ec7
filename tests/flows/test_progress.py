"""Live progress (training iterations, build-dataset's stage list) and artifact keys scoped by dataset."""

from __future__ import annotations

import json

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

import tasks.progress as progress
from flows.patches import patches_flow
from flows.progress import StageList
from tasks.progress import DashboardProgress, artifact_key
from tasks.training_io import loss_logger
from tests.flows.conftest import write_good_photos


def _latest(key: str):
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=50)
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


def test_updates_are_throttled_and_plain_lines_printed_off_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("HGGT_NO_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)
    sent = []
    monkeypatch.setattr(progress, "update_progress_artifact", lambda artifact_id, progress: sent.append(progress))

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
    card = _latest(artifact_key("build-dataset-stages", root)).data
    assert "| ingest | done | 3 |" in card and "| patches | failed |" in card and "| degrade | pending |" in card
