"""A command whose Prefect server stops mid-run says so in one line and exits, within about 10 s.

Prefect's client retries a refused connection with growing back-off, so without this a command
whose server was stopped or killed logs connection errors for about five minutes and ends with
`[Errno 111] Connection refused`, no hint. Only a server on this machine is watched, and only a
refused connection counts: a loopback port nobody listens on means the server is gone, whereas a
slow answer may be a busy server and a remote one may come back. Every finished item keeps its
record, so running the same command again resumes; the runs left Running are marked Crashed by
the next build or `hggt runs cleanup`.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LOOPBACK = ("127.0.0.1", "localhost", "::1")
EVERY, GRACE = 2.0, 8.0  # seconds between checks; seconds of refusals before giving up


def refused(api_url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout):
            return False
    except urllib.error.HTTPError:  # something listens and answers
        return False
    except urllib.error.URLError as exc:
        return isinstance(exc.reason, ConnectionRefusedError)
    except OSError:
        return False


def lost_message(api_url: str) -> str:
    return (f"the Prefect server at {api_url} stopped answering: start it again with `hggt server start` "
            "(or `make server` for your own), then run the same command again; finished work is kept")


def leave(line: str, announce: Callable[[str], None]) -> None:
    """Exit now: Prefect could only retry reports to a server that is gone. Pool and Dask workers
    are this process's multiprocessing children and would outlive it."""
    announce(line)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    for child in multiprocessing.active_children():
        child.kill()
    os._exit(1)


@contextmanager
def watching(api_url: str | None, announce: Callable[[str], None], every: float = EVERY, grace: float = GRACE) -> Iterator[None]:
    """While the block runs, a daemon thread checks the server at ``api_url`` every ``every`` s
    and leaves once it has refused connections for ``grace`` s."""
    done = threading.Event()

    def loop() -> None:
        since = None
        while not done.wait(every):
            if not refused(api_url):
                since = None
            elif since is None:
                since = time.monotonic()
            elif time.monotonic() - since >= grace and not done.is_set():
                leave(lost_message(api_url), announce)

    if api_url and urllib.parse.urlsplit(api_url).hostname in LOOPBACK:
        threading.Thread(target=loop, name="hggt-server-watch", daemon=True).start()
    try:
        yield
    finally:
        done.set()
