"""Flow runs end when their work ends, and still send Prefect's heartbeats."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import prefect.flow_engine as engine_module
from prefect import flow

from hggt.flows._heartbeats import prompt_heartbeats
from hggt.flows.runners import plain_runner
from hggt.flows.startup import startup


class FakeEngine:
    def __init__(self, final: bool = False, seconds: int | None = 30):
        self.heartbeat_seconds = seconds
        self.flow_run = SimpleNamespace(state=SimpleNamespace(is_final=lambda: final))
        self.logger = SimpleNamespace(debug=lambda *a, **k: None)
        self.beats = 0
        self.beat_thread: threading.Thread | None = None

    def _build_heartbeat_event_template(self):
        return {"resource": "flow-run"}, []

    def _emit_flow_run_heartbeat(self, resource, related):
        assert resource == {"resource": "flow-run"}
        self.beat_thread = threading.current_thread()
        self.beats += 1


def test_installed_in_place_of_prefects_helper():
    startup()
    assert engine_module._send_heartbeats is prompt_heartbeats


def test_importing_the_flows_changes_nothing_until_a_flow_run_starts():
    import subprocess
    import sys

    probe = ("import prefect.flow_engine as e; before = e._send_heartbeats; import hggt.flows.build_dataset, hggt.flows.maps; "
             "assert e._send_heartbeats is before, 'patched at import'; from hggt.flows.maps import maps_flow; "
             "runner = maps_flow.task_runner.duplicate(); from hggt.flows._heartbeats import prompt_heartbeats; "
             "assert e._send_heartbeats is prompt_heartbeats")
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_sends_a_heartbeat_and_stops_at_once():
    engine = FakeEngine()
    started = time.perf_counter()
    with prompt_heartbeats(engine):
        deadline = time.time() + 5
        while engine.beats == 0 and time.time() < deadline:
            time.sleep(0.01)
    elapsed = time.perf_counter() - started
    assert engine.beats == 1  # one at start; the next would be 30 s later
    assert engine.beat_thread is not None and not engine.beat_thread.is_alive()
    assert elapsed < 0.5  # Prefect's own helper waits for the next whole second


def test_no_heartbeat_for_finished_runs_or_when_disabled():
    finished, disabled = FakeEngine(final=True), FakeEngine(seconds=None)
    for engine in (finished, disabled):
        with prompt_heartbeats(engine):
            time.sleep(0.05)
    assert finished.beats == 0 and disabled.beats == 0


def test_short_flow_is_not_rounded_up_to_a_second(prefect_server):
    @flow(name="heartbeat-timing", task_runner=plain_runner())
    def short(seconds: float) -> None:
        time.sleep(seconds)

    short(0.0)
    walls = []
    for _ in range(3):
        started = time.perf_counter()
        short(0.1)
        walls.append(time.perf_counter() - started)
    # A 0.1 s flow took 1.06 s with Prefect's helper; without the rounding it takes ~0.2 s.
    assert min(walls) < 0.6, walls
