"""A command killed with kill -9 (or left by the lost-server exit) takes its torchrun ranks with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows.test_local_server import _ended, _gone

REPO = Path(__file__).resolve().parents[2]
LAUNCH = ("import sys; from hggt.tasks.torchrun import launch_torchrun; from tests.torchrun_entries import wait_until_stopped; "
          "launch_torchrun(2, wait_until_stopped, sys.argv[1])")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_killing_the_command_stops_its_torchrun_ranks(tmp_path):
    command = subprocess.Popen([sys.executable, "-c", LAUNCH, str(tmp_path)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.iterdir())) < 2:
            assert command.poll() is None and time.monotonic() < deadline, "the ranks did not start"
            time.sleep(0.2)
        ranks = [int(p.name) for p in tmp_path.iterdir()]
        time.sleep(1)
        assert not any(_ended(pid) for pid in ranks)
        command.kill()
        command.wait()
        assert all(_gone(pid, 30) for pid in ranks), "torchrun's ranks outlived the command"
    finally:
        if command.poll() is None:
            command.kill()
        for p in tmp_path.iterdir():
            if not _ended(int(p.name)):
                os.kill(int(p.name), signal.SIGKILL)
