"""A process worker (as `make worker` starts it) stops within seconds of SIGTERM, also after a restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.ops.conftest import REPO, api

pytestmark = pytest.mark.slow


def _start_worker(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "hggt-local", "--type", "process"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_polling(url: str, worker: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.stdout.read()
        try:
            if len(api(url, "/work_pools/hggt-local/workers/filter", {})) >= count:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("the worker did not register with its pool in 60 s")


def _seconds_to_stop(worker: subprocess.Popen) -> float:
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise AssertionError("the worker ignored SIGTERM for 30 s") from None
    return time.monotonic() - started


def test_worker_exits_promptly_on_sigterm_after_a_restart(make_server):
    env, url = make_server
    times = []
    for attempt in (1, 2):  # the second is the restarted worker of the issue
        worker = _start_worker(env)
        try:
            _wait_polling(url, worker, attempt)
            time.sleep(2)
            times.append(_seconds_to_stop(worker))
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
    assert max(times) < 10, times
