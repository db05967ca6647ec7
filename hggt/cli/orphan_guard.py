"""`python -m hggt.cli.orphan_guard PID COMMAND...`: run COMMAND until process PID ends, then stop it.

Prefect's temporary server (a command without the shared server) is a child process that a
command killed with kill -9 would leave running, unseen. The kernel's parent-death signal cannot
help there: it fires when the *thread* that started the child ends, and Prefect starts its server
from a short-lived thread. This guard watches the command's pid instead; the server is its own
child with a parent-death signal from the guard's main thread, so it ends with the guard, however
the guard ends. SIGTERM and SIGINT to the guard (Prefect stopping its server) pass to the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from hggt.cli.local_server import _alive
from hggt.core.parent_death import dies_with

POLL_SECONDS = 1.0


def main(watched: int, command: list[str]) -> int:
    child = subprocess.Popen(command, preexec_fn=dies_with(os.getpid()))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _: child.send_signal(signum))
    while True:
        try:
            return child.wait(POLL_SECONDS)
        except subprocess.TimeoutExpired:
            if not _alive(watched) or os.getppid() != watched:  # the command is gone (killed, crashed)
                child.terminate()
                try:
                    return child.wait(20)
                except subprocess.TimeoutExpired:
                    child.kill()
                    return child.wait()


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2:]))
