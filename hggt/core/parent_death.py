"""Child processes that end with the one that started them, however it ends (kill -9, os._exit).

On Linux the kernel sends a chosen signal to a child whose parent has gone (PR_SET_PDEATHSIG):
strictly, when the *thread* that started it ends, so it suits children started by a thread that
waits for them. Elsewhere nothing is armed."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable


def dies_with(parent: int, sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for subprocess.Popen started by process ``parent`` (None off Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the forked child only calls it

    def arm() -> None:
        prctl(1, int(sig))  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm
