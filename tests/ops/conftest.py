"""Operations tests: the Makefile's Prefect server on a free, non-default port, no test harness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port, wait_for_health

REPO = Path(__file__).resolve().parents[2]


def api(url: str, path: str, body: dict | None = None):
    """One call, retried on 503 as Prefect's own client does: the server answers 503 while its
    SQLite database is locked (its services write at start-up), which clients are to retry."""
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(6):
        request = urllib.request.Request(f"{url}{path}", data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            if error.code != 503 or attempt == 5:
                raise
        time.sleep(0.5 * 2**attempt)


@pytest.fixture
def make_server(tmp_path):
    """`make server PORT=<free port>`; yields (env pointing at it, API URL)."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    log = open(tmp_path / "server.log", "w")
    # Its own session, so the whole tree (make, prefect, uvicorn) is stopped at the end.
    server = subprocess.Popen(["make", "--no-print-directory", "-o", ".venv/.installed", "server", f"PORT={port}"],
                              cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_for_health(url, server, tmp_path / "server.log")
        api(url, "/flows/", {"name": "hggt-ops-ready"})  # past the start-up writes: a write went through
        yield {**env, "PREFECT_API_URL": url, "PORT": str(port)}, url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
