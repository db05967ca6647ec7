"""Consecutive commands share one local Prefect server, which stops on request or when idle."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hggt.cli.local_server import healthy
from tests.flows.conftest import REPO, write_good_photos

pytestmark = pytest.mark.slow


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "hggt.cli.main", *args], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _flow_runs(api_url: str) -> list[str]:
    request = urllib.request.Request(f"{api_url}/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return [run["flow_id"] for run in json.loads(r.read())]


def _ended(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie nobody has reaped yet has ended too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _ended(pid):
            return True
        time.sleep(0.2)
    return False


def _children(pid: int) -> list[int]:
    """Linux: the processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _env(home: Path, idle: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "HGGT_LOCAL_SERVER")}
    env.update(PREFECT_HOME=str(home), HGGT_SERVER_IDLE=idle, COLUMNS="200")
    return env


def _start_server(tmp_path, idle: str) -> tuple[Path, dict]:
    """Start the shared server as a command does; its $PREFECT_HOME and state."""
    home = tmp_path / "prefect"
    env = _env(home, idle)
    proc = subprocess.run([sys.executable, "-c", "from hggt.cli import local_server; print(local_server.connect())"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "started a local Prefect server" in proc.stdout, proc.stdout + proc.stderr
    return home, json.loads((home / "hggt-server.json").read_text())


def _sleeping_command(env: dict) -> subprocess.Popen:
    """A command running a flow that sleeps for two minutes, once its flow has started."""
    command = subprocess.Popen(
        [sys.executable, "-c", "from hggt.cli.running import run_flow; run_flow('tests.flows.sleeper_flow:sleeper', seconds=120)"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    before = []
    for line in command.stdout:
        if "sleeping" in line:
            return command
        before.append(line)
    pytest.fail("the flow did not start:\n" + "".join(before))


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
    home, state = _start_server(tmp_path, idle="1")
    assert _gone(state["pid"], 60), "the idle server did not stop"
    assert not (home / "hggt-server.json").exists()


def test_the_server_stops_when_its_home_is_deleted(tmp_path):
    home, state = _start_server(tmp_path, idle="600")
    while home.exists():  # the server may write while the tree is removed
        shutil.rmtree(home, ignore_errors=True)
    try:
        assert _gone(state["pid"], 30), "a server whose $PREFECT_HOME is gone kept running"
        assert not healthy(state["api_url"])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(state["pid"], signal.SIGTERM)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server dies with its supervisor on Linux only")
def test_the_server_dies_with_a_killed_supervisor(tmp_path):
    _, state = _start_server(tmp_path, idle="600")
    [server] = _children(state["pid"])
    os.kill(state["pid"], signal.SIGKILL)
    try:
        assert _gone(server, 10), "the Prefect server outlived its supervisor (kill -9)"
        assert not healthy(state["api_url"])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server, signal.SIGKILL)


def test_a_command_whose_server_stops_says_so_and_exits(tmp_path):
    from hggt.cli.local_server import stop

    home, _ = _start_server(tmp_path, idle="600")
    command = _sleeping_command(_env(home, "600"))
    try:
        stop(home)
        lost = time.monotonic()
        out = command.communicate(timeout=60)[0]
        assert time.monotonic() - lost < 25, f"took {time.monotonic() - lost:.0f} s"
        assert command.returncode == 1
        last = out.strip().splitlines()[-1]
        assert "stopped answering" in last and "hggt server start" in last and "finished work is kept" in last, out
    finally:
        command.kill()


def test_make_server_then_commands_and_make_targets_share_one_server_and_history(tmp_path):
    """`make server` runs the shared server in its terminal (no idle stop: a worker's runs are not
    a command's), a stage command then joins it instead of starting a second one on the same
    database, and make's worker and deployment targets point at it."""
    home = tmp_path / "prefect"
    env = _env(home, "1")  # an idle stop after 1 s would hit a server that is not kept
    make = ["make", "--no-print-directory", "-o", ".venv/.installed"]
    server = subprocess.Popen([*make, "server"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not ((home / "hggt-server.json").exists() and healthy(json.loads((home / "hggt-server.json").read_text())["api_url"])):
            assert server.poll() is None and time.monotonic() < deadline, "make server did not start"
            time.sleep(0.5)
        state = json.loads((home / "hggt-server.json").read_text())
        write_good_photos(tmp_path / "photos", count=1)
        command = _cli(env, "ingest", "--input", str(tmp_path / "photos"), "--out", str(tmp_path / "ds"), "--preset", "demo")
        assert "started a local Prefect server" not in command.stdout + command.stderr
        time.sleep(3)  # past the idle limit: kept
        assert json.loads((home / "hggt-server.json").read_text())["pid"] == state["pid"] and healthy(state["api_url"])
        assert len(_flow_runs(state["api_url"])) == 1  # the command's run is in make's server's history
        resolved = subprocess.run([*make, "-s", "--eval", "print-api: ; @echo $(API)", "print-api"], cwd=REPO, env=env,
                                  capture_output=True, text=True, timeout=120)
        assert resolved.stdout.strip() == state["api_url"], resolved.stdout + resolved.stderr
        assert "kept until" in _cli(env, "server", "status").stdout
        subprocess.run([*make, "server-stop"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        server.wait(timeout=60)
        assert not healthy(state["api_url"]) and not (home / "hggt-server.keep").exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the temporary server dies with its command on Linux only")
def test_a_killed_commands_temporary_server_dies_with_it(tmp_path):
    # Prefect's temporary server gets 20 s to start by default: not always enough on 2 busy CI cores
    env = {**_env(tmp_path / "prefect", "600"), "HGGT_LOCAL_SERVER": "0", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90"}
    command = _sleeping_command(env)
    servers: list[int] = []
    try:
        guards = _children(command.pid)
        servers = [pid for g in guards for pid in _children(g) if "uvicorn" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert len(servers) == 1, guards
        os.kill(command.pid, signal.SIGKILL)
        assert _gone(servers[0], 10), "the temporary Prefect server outlived its command (kill -9)"
    finally:
        command.kill()
        for pid in servers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_runs_cleanup_on_a_server_that_does_not_answer_says_so_in_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**_env(tmp_path / "prefect", "600"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    proc = subprocess.run([sys.executable, "-m", "hggt.cli.main", "runs", "cleanup"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 1 and "Traceback" not in out, out  # before: httpx.ConnectError with its traceback
    assert "stopped answering" in out.splitlines()[-1] and "hggt server start" in out, out
