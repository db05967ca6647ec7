"""prefect.yaml deploys on a real local Prefect server; a process worker runs build-dataset."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hggt.core import manifests
from tests.flows.conftest import REPO, write_good_photos
from tests.servers import free_port, wait_for_health

PREFECT = [sys.executable, "-m", "prefect"]

pytestmark = pytest.mark.slow


@pytest.fixture
def local_server(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}/api", server, tmp_path / "server.log")
        yield env
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _prefect(env, *args, timeout=300) -> str:
    proc = subprocess.run([*PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"prefect {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _make_deploy_twice_while_a_worker_starts(env) -> str:
    """`make deploy` is idempotent, even racing a starting worker that creates the pool itself."""
    port = env["PREFECT_API_URL"].rsplit(":", 1)[1].split("/")[0]
    make = ["make", "--no-print-directory", "-o", ".venv/.installed", "deploy", f"PORT={port}"]
    worker = subprocess.Popen([*PREFECT, "worker", "start", "--pool", "hggt-local", "--type", "process", "--run-once"],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        outputs = []
        for _ in range(2):
            proc = subprocess.run(make, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, f"make deploy:\n{proc.stdout}\n{proc.stderr}"
            outputs.append(proc.stdout + proc.stderr)
    finally:
        worker.wait(timeout=120)
    # this machine has no GPU: tasks tagged gpu are not queued behind one another, and make says so
    assert "no GPU found" in outputs[-1]
    limits = subprocess.run([*PREFECT, "concurrency-limit", "inspect", "gpu"], cwd=REPO, env=env, capture_output=True, text=True)
    assert limits.returncode != 0
    return outputs[-1]


def test_deployment_run_completes_on_a_local_worker(tmp_path, local_server):
    env = local_server
    photos, out = tmp_path / "photos", tmp_path / "ds"
    write_good_photos(photos, count=2)
    deployed = _make_deploy_twice_while_a_worker_starts(env)
    for name in ("build-dataset/local", "ingest/local", "patches/local", "degrade/local", "synthesize-lr/local",
                 "train-enhancers/local", "enhance/local", "select/local", "annotate/local", "annotate-ingest/local",
                 "maps/local", "train-sr/local", "evaluate/local", "report/local"):
        assert name in deployed
    created = _prefect(
        env, "deployment", "run", "build-dataset/local",
        "--param", f"input={photos}", "--param", f"out={out}", "--param", "preset=demo", "--param", "until=degrade",
    )
    run_id = re.search(r"UUID:\s*([0-9a-f-]{36})", created).group(1)
    _prefect(env, "worker", "start", "--pool", "hggt-local", "--run-once", timeout=600)
    state = _prefect(env, "flow-run", "inspect", run_id)
    assert re.search(r"COMPLETED", state), state
    assert manifests.read(str(out), "images").num_rows == 2
    assert manifests.read(str(out), "patches").num_rows > 0
    assert manifests.read(str(out), "degradations").num_rows > 0
    assert Path(out, "original").is_dir()
