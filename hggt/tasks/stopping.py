"""Stopping a training flow on request: SIGTERM (a worker cancelling, `kill`), Ctrl-C and the flow
run's cancellation through the API (`prefect flow-run cancel`, the dashboard's Cancel) become one
stop request (hggt.core.training.stopping), which the training loop honours after its current
iteration, checkpointing it. A second Ctrl-C or SIGTERM aborts at once, as before.

Prefect's engine turns SIGTERM into an exception in the main thread, but training runs in a task
thread that goes on until its last iteration, and a locally run flow never looks at its
cancellation: hence a handler of our own while the training tasks run, and a thread that polls
the run's state.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from hggt.core.training import stopping
from hggt.tasks.progress import run_logger

POLL_SECONDS = 2.0
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _flow_run_ids() -> list:
    """This flow run and those above it (a cancelled parent stops its subflows' training too)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return []
    from prefect.client.orchestration import get_client

    ids, run = [], ctx.flow_run
    with get_client(sync_client=True) as client:
        while run is not None and len(ids) < 8:
            ids.append(run.id)
            parent = client.read_task_run(run.parent_task_run_id) if run.parent_task_run_id else None
            run = client.read_flow_run(parent.flow_run_id) if parent is not None and parent.flow_run_id else None
    return ids


def _watch_cancellation(ids: list, done: threading.Event) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.objects import StateType

    ending = {StateType.CANCELLING, StateType.CANCELLED}
    try:
        with get_client(sync_client=True) as client:
            while not done.wait(POLL_SECONDS):
                try:
                    runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
                except Exception:  # noqa: BLE001 - a lost server is reported by the flow itself; keep training
                    continue
                if any(r.state is not None and r.state.type in ending for r in runs):
                    stopping.request("cancelled")
                    return
    except Exception:  # noqa: BLE001 - no API to watch (no server): signals still stop the run
        return


@contextmanager
def stop_requests() -> Iterator[None]:
    """While the block runs, SIGTERM, Ctrl-C and cancellation of this flow run ask training to stop."""
    stopping.reset()
    logger = run_logger()
    previous: dict[int, object] = {}

    def handler(signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if stopping.requested():  # asked twice: abort now, the way it was before this block
            earlier = previous.get(signum)
            signal.signal(signum, earlier if earlier is not None else signal.SIG_DFL)
            if callable(earlier):
                earlier(signum, frame)
            elif signum == signal.SIGINT:
                raise KeyboardInterrupt
            else:
                signal.raise_signal(signum)
            return
        stopping.request(name)
        logger.warning("%s: training stops after its current iteration and saves a checkpoint (again to abort now)", name)

    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            previous[sig] = signal.signal(sig, handler)
    done = threading.Event()
    try:
        ids = _flow_run_ids()
    except Exception:  # noqa: BLE001 - no API: signals still stop the run
        ids = []
    watcher = threading.Thread(target=_watch_cancellation, args=(ids, done), name="hggt-cancel-watch", daemon=True)
    if ids:
        watcher.start()
    try:
        yield
    finally:
        done.set()
        for sig, earlier in previous.items():
            signal.signal(sig, earlier)


def cancelled_messages(futures: list) -> list[str]:
    """What stopped the training task runs that a stop request ended, once all have finished."""
    for future in futures:
        future.wait()
    outcomes = [f.result(raise_on_failure=False) if f.state.is_failed() else None for f in futures]
    return [str(o) for o in outcomes if isinstance(o, stopping.TrainingStopped)]


def stopped_run(root: str, stage: str, cfg, code: str, started_at, messages: list[str], computed: int = 0) -> "State":
    """Record the stage run as stopped ('stopped at N/M (reason)' per training run) and end the flow
    run Cancelled with what to do next."""
    from prefect.states import Cancelled

    from hggt.core.stage_runs import record_stage_run

    state = "; ".join(stopping.state_in(m) or m for m in messages)
    record_stage_run(root, stage, cfg, code, started_at, {"items": 0, "computed": computed}, state=state)
    run_logger().warning("%s", " ".join(messages))
    return Cancelled(message=" ".join(messages))
