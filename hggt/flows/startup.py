"""Process start-up for flow runs, done once per process and explicitly rather than at import: a
flow module imported by a worker, a test or the CLI does nothing until a flow run starts.

Every stage flow's task runner (:class:`flows.runners.StartingTaskRunner`) calls :func:`startup`
as its run begins, before Prefect starts that run's heartbeats, so deployments get the same
process set-up as the CLI, which calls it before running a flow.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_done = False


def startup() -> None:
    """Tune glibc's allocator for image buffers, install prompt flow-run heartbeats and keep
    OpenCV single-threaded (parallelism comes from the task runner; OpenCV's own pool on top
    would oversubscribe the cores). Idempotent."""
    global _done
    with _lock:
        if _done:
            return
        import cv2

        from hggt.flows._allocator import tune_allocator
        from hggt.flows._heartbeats import install

        tune_allocator()
        install()
        cv2.setNumThreads(1)
        _done = True
