"""Functions torchrun's ranks import by reference in tests (they must live in an importable module)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hggt.core.training import stopping


def wait_until_stopped(folder: str) -> int:
    """A rank that runs until asked to stop, as training does between iterations; leaves its pid."""
    Path(folder, str(os.getpid())).touch()
    while not stopping.requested():
        time.sleep(0.1)
    return os.getpid()
