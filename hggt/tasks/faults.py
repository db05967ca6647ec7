"""Fault injection for the crash tests: with HGGT_FAULT_DIR set, the process kills itself (SIGKILL,
as `kill -9` would) once per stage, after that stage has done HGGT_FAULT_AFTER units of work in
this process. A marker file per stage makes the next run go on past it. Unset: nothing happens."""

from __future__ import annotations

import os
import signal
from pathlib import Path

_done: dict[str, int] = {}


def checkpoint(stage: str) -> None:
    folder = os.environ.get("HGGT_FAULT_DIR")
    if not folder:
        return
    _done[stage] = _done.get(stage, 0) + 1
    marker = Path(folder) / stage.replace("/", "_")
    if _done[stage] >= int(os.environ.get("HGGT_FAULT_AFTER", "2")) and not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
