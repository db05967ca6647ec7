"""kill -9 in the middle of patch extraction, then a re-run: only the missing work is done and
the manifests equal those of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc

import pytest

from hggt.core import manifests, storage
from tests.flows.conftest import REPO, write_good_photos

ARGS = ["--preset", "demo", "--workers", "1", "--set", "patches.shard_size=2", "--set", "patches.png_compression=9"]

pytestmark = pytest.mark.slow


def _crop_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "original").glob("*.png"))}


def test_killed_run_resumes_to_the_same_manifests(tmp_path, run_cli, prefect_server):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=12, size=(560, 760))
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    run_cli("patches", "--input", str(photos), "--out", str(reference), *ARGS)

    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hggt.cli.main", "patches", "--input", str(photos), "--out", str(resumed), *ARGS],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    records = resumed / "manifests" / "parts" / "patches" / "items"
    deadline = time.monotonic() + 120
    while not (records.exists() and len(list(records.glob("*.json"))) >= 3):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (resumed / "manifests" / "patches.parquet").exists(), "killed too late: the stage had finished"
    done_before = len(list(records.glob("*.json")))
    assert done_before < 12

    run_cli("patches", "--input", str(photos), "--out", str(resumed), *ARGS)
    for name in ("images", "patches"):
        assert manifests.read(str(resumed), name).equals(manifests.read(str(reference), name)), name
    assert _crop_files(resumed) == _crop_files(reference)
    runs = manifests.read(str(resumed), "stage_runs")
    last = runs.filter(pc.equal(runs["stage"], "patches")).sort_by([("started_at", "descending")]).to_pylist()[0]
    assert last["computed"] == 12 - done_before, "the re-run recomputed images that had finished"
    leftovers = [p for p in (resumed / "original").iterdir() if p.name.startswith(storage.TMP_MARK)]
    assert leftovers == []  # the write the kill interrupted is cleaned up, never left under a final name
