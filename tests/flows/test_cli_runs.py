"""Stages started from the command line, each in a new process."""

from __future__ import annotations

import pyarrow.compute as pc

from hggt.core import manifests
from tests.flows.conftest import TINY, write_good_photos


def test_rerun_in_a_new_process_is_all_cache_hits(tmp_path, run_cli):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=3)
    out = str(tmp_path / "ds")
    tiny = [arg for o in TINY for arg in ("--set", o)]
    first = run_cli("build", "--input", str(photos), "--out", out, "--preset", "demo", *tiny)
    assert "texture-passing crops" in first.stdout and "0 of" in first.stdout
    crops = sorted((tmp_path / "ds" / "original").iterdir()) + sorted((tmp_path / "ds" / "03").iterdir())
    crops += [tmp_path / "ds" / "manifests" / f"{m}.parquet" for m in ("sets", "votes", "labels", "splits")]
    crops += [tmp_path / "ds" / "enhancers" / "04" / "model.pt"]
    mtimes = [p.stat().st_mtime_ns for p in crops]
    second = run_cli("build", "--input", str(photos), "--out", out, "--preset", "demo", *tiny)
    runs = manifests.read(out, "stage_runs").sort_by([("started_at", "ascending")]).to_pylist()
    latest = {r["stage"]: r for r in runs}
    uncached = {"select", "annotate-ingest", "annotate-aggregate"}  # cheap passes over manifests and the vote store
    assert set(latest) == {"ingest", "patches", "degrade", "lr_test", "train-enhancers", "enhance", "split", "maps"} | uncached
    for stage in set(latest) - uncached:
        assert latest[stage]["shards_cached"] == latest[stage]["shards"] > 0, stage
        assert latest[stage]["computed"] == 0, stage
    assert [p.stat().st_mtime_ns for p in crops] == mtimes
    counts = pc.value_counts(manifests.read(out, "stage_runs")["config_hash"]).to_pylist()
    assert len(counts) == 1 and counts[0]["counts"] == 2 * len(latest)  # both runs recorded the same resolved config
    shards = sum(r["shards"] for r in latest.values())
    assert f"{shards} of {shards}" in second.stdout


def test_a_failing_stage_exits_nonzero_with_a_message(tmp_path, run_cli):
    (tmp_path / "nothing-here").mkdir()  # a dataset folder without images.parquet (no folder at all: test_cli_validation)
    result = run_cli("patches", "--out", str(tmp_path / "nothing-here"), "--preset", "demo", check=False)
    assert result.returncode == 1
    assert "(stage ingest: `hggt ingest`): run it first" in result.stdout
    missing = run_cli("ingest", "--input", str(tmp_path / "no-such-folder"), "--out", str(tmp_path / "x"), check=False)
    assert missing.returncode == 1 and "no-such-folder does not exist" in missing.stdout  # said before Prefect starts
