"""The learned annotator's flows under a Prefect server: training, held-out evaluation with its
dashboard artifacts (confusion matrix, 95% intervals, calibration), the report's section, and the CLI."""

from __future__ import annotations

import json

import pytest

from hggt.flows.annotator import annotator_flow
from hggt.flows.report import report_flow
from hggt.core import storage
from hggt.tasks.progress import artifact_key
from tests.flows.conftest import latest_artifact
from tests.synthetic_votes import build


def test_annotator_flow_publishes_confusion_and_calibration_and_the_report_shows_it(tmp_path):
    root = tmp_path / "ds"
    build(root)
    result = annotator_flow(out=str(root))
    assert result["train"]["computed"] and result["evaluate"]["items"] == 96
    key_root = storage.normalize_root(str(root))
    confusion = latest_artifact(artifact_key("annotator-confusion", key_root))
    rows = json.loads(confusion.data)
    assert [r["people said"] for r in rows] == ["Positive", "Similar", "Negative"]
    assert sum(v for r in rows for k, v in r.items() if k.startswith("model:")) == 96
    calibration = latest_artifact(artifact_key("annotator-calibration", key_root))
    assert "data:image/svg+xml;base64," in calibration.data and "| confidence |" in calibration.data
    assert "calibration error (ECE, 10 bins)" in calibration.data and "temperature" in calibration.data
    raters = json.loads(latest_artifact(artifact_key("annotator-raters", key_root)).data)
    assert all(r["accuracy 95% interval"].endswith("%") and " to " in r["kappa 95% interval"] for r in raters)
    report_flow(out=str(root))
    page = (root / "reports" / "dataset.html").read_text()
    assert '<section id="annotator">' in page and "always Similar" in page and "human A" in page
    assert "accuracy 95% interval" in page and raters[0]["kappa 95% interval"] in page


@pytest.mark.slow
def test_cli_trains_evaluates_and_names_a_missing_split(run_cli, tmp_path):
    root = tmp_path / "ds"
    build(root)
    trained = run_cli("annotator", "train", "--out", str(root))
    assert "annotator_id" in trained.stdout and "On 10 train sets held back from the weights: calibration error" in trained.stdout
    scored = run_cli("annotator", "evaluate", "--out", str(root))
    assert "always Similar" in scored.stdout and "human B" in scored.stdout and "--skip-confident" in scored.stdout
    assert "accuracy (95% interval)" in scored.stdout and "On the held-out versions: calibration error" in scored.stdout
    assert "warning" not in scored.stdout  # 24 held-out sets are enough
    (root / "manifests" / "splits.parquet").unlink()
    failed = run_cli("annotator", "train", "--out", str(root), "--features", "proxy", check=False)
    assert failed.returncode == 1 and "no held-out split yet" in failed.stdout
