"""Consecutive commands share one local Prefect server, which stops on request or when idle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.flows.conftest import REPO, write_good_photos

pytestmark = pytest.mark.slow


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "hggt_cli.main", *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _flow_runs(api_url: str) -> list[str]:
    request = urllib.request.Request(f"{api_url}/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return [run["flow_id"] for run in json.loads(r.read())]


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def test_two_commands_share_one_server_then_it_stops(tmp_path):
    home = tmp_path / "prefect"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "HGGT_LOCAL_SERVER")}
    env.update(PREFECT_HOME=str(home), HGGT_SERVER_IDLE="600", COLUMNS="200")
    write_good_photos(tmp_path / "photos", count=1)
    ingest = ("ingest", "--input", str(tmp_path / "photos"), "--out", str(tmp_path / "ds"), "--preset", "demo")

    first = _cli(env, *ingest)
    assert "started a local Prefect server" in first.stdout
    state = json.loads((home / "hggt-server.json").read_text())
    second = _cli(env, *ingest)
    assert "started a local Prefect server" not in second.stdout
    assert json.loads((home / "hggt-server.json").read_text())["pid"] == state["pid"]
    assert len(_flow_runs(state["api_url"])) == 2  # both commands' flow runs are on the shared server

    assert "stopped the local server" in _cli(env, "server", "stop").stdout
    assert _gone(state["pid"], 30) and not (home / "hggt-server.json").exists()


def test_the_server_stops_itself_when_idle(tmp_path):
    home = tmp_path / "prefect"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "HGGT_LOCAL_SERVER")}
    env.update(PREFECT_HOME=str(home), HGGT_SERVER_IDLE="1", COLUMNS="200")
    proc = subprocess.run([sys.executable, "-c", "from hggt_cli import local_server; print(local_server.connect())"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "started a local Prefect server" in proc.stdout, proc.stdout + proc.stderr
    pid = json.loads((home / "hggt-server.json").read_text())["pid"]
    assert _gone(pid, 60), "the idle server did not stop"
    assert not (home / "hggt-server.json").exists()
