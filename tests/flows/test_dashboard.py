"""Every stage publishes progress, a summary table and example images; read back through the
Prefect API."""

from __future__ import annotations

import json

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.degrade import degrade_flow
from flows.extract_patches import extract_patches_flow
from tests.flows.conftest import write_good_photos


def _latest(key: str):
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=50)
    assert found, f"no artifact {key}"
    return max(found, key=lambda a: a.created)


def test_stage_artifacts_can_be_read_back(tmp_path):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=2)
    root = str(tmp_path / "ds")
    summary = extract_patches_flow(out=root, input=str(photos), preset="demo")
    degrade_flow(input=root, out=root, preset="demo")
    for stage, items in (("patches", summary["items"]), ("degrade", None)):
        progress = _latest(f"{stage}-progress")
        assert progress.type == "progress" and float(progress.data) == 100.0
        table = _latest(f"{stage}-summary")
        rows = {r["metric"]: r["value"] for r in (json.loads(table.data) if isinstance(table.data, str) else table.data)}
        assert {"items", "rejected", "shards_cached", "seconds", "items_per_second"} <= set(rows)
        if items is not None:
            assert rows["items"] == str(items)
        examples = _latest(f"{stage}-examples")
        assert examples.type == "markdown" and examples.data.count("data:image/png;base64,") >= 2
