"""One local Prefect server that consecutive `hggt` commands share.

Without a server, every command starts Prefect's temporary one (about 5 s on 2 cores) for a stage
that may take 0.04 s. The first command therefore starts `prefect server start` in the background,
on 127.0.0.1, over the same $PREFECT_HOME database, and later commands connect to it: a cached
stage then costs little more than Python's start-up, and its runs show in a dashboard the user
can open. A small supervisor process (`python -m hggt.cli.local_server PORT IDLE`) stops the
server once no command has used it for HGGT_SERVER_IDLE seconds (default 900) or once its
$PREFECT_HOME is deleted, and on Linux the server dies with the supervisor; `hggt server stop`
stops it at once. An operator's own server (PREFECT_API_URL in the environment or the active
Prefect profile) always wins, and HGGT_LOCAL_SERVER=0 keeps the temporary server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

from hggt.core.parent_death import dies_with

STATE, USED, LOCK, LOG = "hggt-server.json", "hggt-server.used", "hggt-server.lock", "hggt-server.log"
KEEP = "hggt-server.keep"  # present: no idle stop (a worker and deployments use it, which no command marks)
PREFERRED_PORT = 4210  # not Prefect's 4200, which `make server` uses
START_TIMEOUT = 90.0


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()


def idle_seconds() -> float:
    return float(os.environ.get("HGGT_SERVER_IDLE", "900"))


def operator_api_url() -> str | None:
    """The API URL the operator configured: environment first, then the active Prefect profile."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or prefect_home() / "profiles.toml")
    try:
        data = tomllib.loads(profiles.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or data.get("active", "ephemeral")
    return (data.get("profiles", {}).get(active) or {}).get("PREFECT_API_URL")


def healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def read_state(home: Path | None = None) -> dict | None:
    try:
        return json.loads(((home or prefect_home()) / STATE).read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(home: Path | None = None) -> dict | None:
    """The shared server's state when it is up and answering, else None."""
    state = read_state(home)
    if state and _alive(state["pid"]) and healthy(state["api_url"]):
        return state
    return None


def _free_port(preferred: int = PREFERRED_PORT) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free port on 127.0.0.1")


def touch(home: Path | None = None) -> None:
    (home or prefect_home()).joinpath(USED).touch()


def keep_alive(home: Path, every: float = 30.0) -> None:
    """Mark the server used while this command runs, so a long stage is never cut by the idle stop."""
    def beat() -> None:
        while True:
            with contextlib.suppress(OSError):
                touch(home)
            time.sleep(every)

    threading.Thread(target=beat, name="hggt-server-keepalive", daemon=True).start()


def _starting(home: Path) -> dict | None:
    """A recorded server whose process lives but does not answer yet (starting, or busy): waited
    for, never doubled by a second server on the same database."""
    state = read_state(home)
    if not state or not _alive(state["pid"]):
        return None
    deadline = time.monotonic() + START_TIMEOUT
    while _alive(state["pid"]) and time.monotonic() < deadline:
        if healthy(state["api_url"]):
            return state
        time.sleep(0.25)
    return None


def connect(announce=print, port: int = PREFERRED_PORT, keep: bool = False) -> str | None:
    """Point this process's Prefect at the shared local server, starting it when none answers
    (on ``port`` if free); ``keep``: no idle stop until `hggt server stop`. Must run before Prefect
    is imported. Returns the API URL in use (None: Prefect's own choice)."""
    if operator_api_url() or os.environ.get("HGGT_LOCAL_SERVER", "1") == "0":
        return None
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    if keep:
        (home / KEEP).touch()
    state = running(home)
    if state is None:
        with open(home / LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two commands started together start one server
            state = running(home) or _starting(home) or _start(home, announce, port)
    if state is None:
        return None
    os.environ["PREFECT_API_URL"] = state["api_url"]
    touch(home)
    keep_alive(home)
    return state["api_url"]


def _start(home: Path, announce, preferred: int = PREFERRED_PORT) -> dict | None:
    port = _free_port(preferred)
    log = home / LOG
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hggt.cli.local_server", str(port), str(idle_seconds())],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    state = {"pid": proc.pid, "port": port, "api_url": f"http://127.0.0.1:{port}/api", "dashboard": f"http://127.0.0.1:{port}",
             "home": str(home), "started": time.time()}
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(state["api_url"]):
        if proc.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            announce(f"hggt: could not start the local Prefect server ({' / '.join(tail) or 'no output'}; log {log}); "
                     "using a temporary one for this command")
            return None
        time.sleep(0.25)
    (home / STATE).write_text(json.dumps(state))
    announce(f"hggt: started a local Prefect server, dashboard at {state['dashboard']} "
             f"(shared by later commands, stops after {idle_seconds():.0f} s idle or with `hggt server stop`)")
    return state


def serve_in_foreground(port: int, announce=print) -> None:
    """`make server`: the shared server, run by this process until Ctrl-C or SIGTERM (no idle stop),
    recorded like one a command started so that commands join it; if one already runs, say where."""
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = running(home) or _starting(home)
        if state is None:
            port = _free_port(port)
            state = {"pid": os.getpid(), "port": port, "api_url": f"http://127.0.0.1:{port}/api",
                     "dashboard": f"http://127.0.0.1:{port}", "home": str(home), "started": time.time()}
            (home / STATE).write_text(json.dumps(state))  # commands wait for it while it starts (_starting)
    if state["pid"] != os.getpid():
        announce(f"hggt: the shared local server already runs, dashboard at {state['dashboard']} (pid {state['pid']})")
        return
    (home / KEEP).touch()
    announce(f"hggt: local Prefect server, dashboard at {state['dashboard']}, API {state['api_url']} "
             "(hggt commands and make targets use it; Ctrl-C stops it)")
    try:
        supervise(state["port"], idle_seconds())
    finally:
        with contextlib.suppress(FileNotFoundError):
            (home / KEEP).unlink()


def stop(home: Path | None = None, timeout: float = 30.0) -> dict | None:
    """Stop the shared server; returns the state it had (None: none was running)."""
    home = home or prefect_home()
    with contextlib.suppress(FileNotFoundError):
        (home / KEEP).unlink()
    state = read_state(home)
    if not state:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(FileNotFoundError):
        (home / STATE).unlink()
    return state


def temporary_servers_die_with_this_process() -> None:
    """Prefect's temporary server (no shared one: HGGT_LOCAL_SERVER=0, or it could not start) is a
    child process that a command killed with kill -9 leaves running, unseen, one per killed command:
    start it under hggt.cli.orphan_guard, which stops it once this process is gone. Linux only."""
    if not sys.platform.startswith("linux"):
        return
    from prefect.server.api import server

    launch = server.SubprocessASGIServer._run_uvicorn_command
    if getattr(launch, "hggt_guarded", False):
        return

    def run_uvicorn(self):
        real = subprocess.Popen
        me = os.getpid()

        def guarded(*args, **kwargs):
            command = kwargs.pop("args", None) or args[0]
            return real([sys.executable, "-m", "hggt.cli.orphan_guard", str(me), *command], *args[1:], **kwargs)

        server.subprocess.Popen = guarded  # only for this call: Prefect starts its server once per process
        try:
            return launch(self)
        finally:
            server.subprocess.Popen = real

    run_uvicorn.hggt_guarded = True
    server.SubprocessASGIServer._run_uvicorn_command = run_uvicorn


def supervise(port: int, idle: float) -> None:
    """The supervisor: run the server, stop it after ``idle`` seconds without a command."""
    home = prefect_home()
    # the dashboard asks the API at PREFECT_SERVER_UI_API_URL, derived from these, never from --port
    env = {**os.environ, "PREFECT_SERVER_API_PORT": str(port), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_UI_API_URL": f"http://127.0.0.1:{port}/api"}
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect)] if prefect.exists() else [sys.executable, "-m", "prefect"]
    server = subprocess.Popen([*cmd, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              preexec_fn=dies_with(os.getpid()))  # no server left that nothing stops and `hggt server` cannot see
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    ready = False  # the idle clock starts once the server answers: start-up is not idleness
    while not stopping.wait(1.0) and server.poll() is None:
        if not home.is_dir():  # its database and state went with it: no command can find this server
            print(f"hggt: {home} was deleted; stopping the local server", flush=True)
            break
        if not ready:
            ready = healthy(f"http://127.0.0.1:{port}/api")
            if ready:
                touch(home)
            continue
        if (home / KEEP).exists():  # kept for a worker and deployments: stops only when told
            continue
        try:
            quiet = time.time() - (home / USED).stat().st_mtime
        except OSError:  # deleted by hand: restart the idle clock, rather than count it as use forever
            with contextlib.suppress(OSError):
                touch(home)
            quiet = 0.0
        if quiet > idle:
            print(f"hggt: no command for {quiet:.0f} s; stopping the local server", flush=True)
            break
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
    state = read_state(home)
    if state and state.get("pid") == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            (home / STATE).unlink()


if __name__ == "__main__":
    supervise(int(sys.argv[1]), float(sys.argv[2]))
