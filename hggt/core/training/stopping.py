"""Stop requests for a training run: whoever learns that the run must end (a signal handler, a
watcher of the run's cancellation) calls :func:`request`; the training loop asks
:func:`requested` once per iteration, writes a checkpoint and raises :class:`TrainingStopped`.
Process-wide on purpose: signals arrive in the main thread while training runs in a task thread.
"""

from __future__ import annotations

import re
import threading

_flag = threading.Event()
_reason: list[str] = []


class TrainingStopped(Exception):
    """A run stopped on request at ``iteration`` of ``total``, its state saved at that iteration."""

    def __init__(self, iteration: int, total: int, reason: str, name: str = "training"):
        self.iteration, self.total, self.reason, self.name = iteration, total, reason, name
        super().__init__(f"{name} stopped at iteration {iteration}/{total} ({reason}): its checkpoint is saved, "
                         "run the same command again to resume from it")

    def __reduce__(self):  # crosses process boundaries (torchrun's rank 0 to the launching task)
        return TrainingStopped, (self.iteration, self.total, self.reason, self.name)

    @property
    def state(self) -> str:
        """What the run's bookkeeping records, e.g. 'stopped at 60/100 (SIGTERM)'."""
        return f"stopped at {self.iteration}/{self.total} ({self.reason})"


def state_in(message: str) -> str | None:
    """The bookkeeping state ('stopped at N/M (reason)') in a :class:`TrainingStopped` message."""
    found = re.search(r"stopped at iteration (\d+/\d+ \([^)]*\))", message or "")
    return f"stopped at {found.group(1)}" if found else None


def request(reason: str) -> None:
    """Ask the running training to stop after its current iteration (the first reason is kept)."""
    if not _flag.is_set():
        _reason[:] = [reason]
        _flag.set()


def requested() -> str | None:
    """The reason a stop was requested, or None."""
    return _reason[0] if _flag.is_set() and _reason else None


def reset() -> None:
    _flag.clear()
    _reason.clear()
