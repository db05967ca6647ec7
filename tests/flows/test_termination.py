"""A flow-run process told to stop (SIGTERM, as a worker or `prefect` cancellation sends it) stops
its running shards before their next item instead of finishing them first."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.flows.conftest import REPO

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time
    from pathlib import Path
    from prefect import flow, task
    from hggt.flows.sharding import run_shards
    from hggt.core.shard_engine import ItemOutput, ShardWork, run_shard
    from hggt.tasks.sharded import engine_hooks

    log = Path(sys.argv[1])

    def slow_item(item):
        time.sleep(0.5)
        with log.open("a") as f:
            f.write(item["item_id"] + "\\n")
        return ItemOutput()

    @task(name="slow-shard")
    def slow_shard(work):
        return run_shard(work, slow_item, engine_hooks())

    @flow(name="termination-probe")
    def probe():
        works = [ShardWork(stage="probe", manifest="images", root=sys.argv[2], shard_key=f"s{i}", config_hash="c",
                           code_version="v", items=tuple({"item_id": f"{i}-{j}"} for j in range(20))) for i in range(2)]
        def stop():
            while not log.exists():  # the first item finished: shards are running
                time.sleep(0.05)
            print("TERM", time.time(), flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=stop, daemon=True).start()
        run_shards(slow_shard, works, "probe")

    probe()
""")


def test_sigterm_stops_running_shards_between_items(tmp_path, prefect_server):
    log = tmp_path / "items.txt"
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(log), str(tmp_path / "root")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (-15, 143), proc.stdout + proc.stderr
    done = log.read_text().split()
    # Two shards of 20 half-second items run side by side: finishing them would take 10 s and all
    # 40 items; stopping between items leaves each shard at most one item past the signal.
    assert 1 <= len(done) <= 6, done
