"""Orphaned Prefect runs: marked Crashed with the reason Prefect cannot know.

When a flow-run process is killed (kill -9, OOM killer, a lost machine), the worker marks that
run Crashed, but its subflows and task runs were only ever reported by the process itself: they
stay Running or Pending forever and the dashboard shows a build that never ends. A run is an orphan
when it is not final and some flow run above it is final: nothing alive can still report for it.
Scheduled and Paused runs are left alone (a worker or a human may still pick them up). A top-level
run is an orphan only when it carries the process tags the CLI gives its runs (`process_tags`),
names this machine, and that process is gone: a run of another machine or a worker may be live.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Crashed

from hggt.core import storage

UNFINISHED = [StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]
PAGE = 200


def orphan_message(now: dt.datetime | None = None) -> str:
    when = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    return f"its process ended without reporting: killed or lost; hggt marked it on {when}"


HOST_TAG, PID_TAG = "hggt-host:", "hggt-pid:"


def process_tags() -> list[str]:
    """Tags naming the machine and process that runs a flow, so a later cleanup can tell that the
    process died without reporting (kill -9 of a terminal's command, no worker to notice)."""
    return [f"{HOST_TAG}{socket.gethostname()}", f"{PID_TAG}{os.getpid()}"]


def _process_gone(run: Any) -> bool:
    tags = {t.split(":", 1)[0] + ":": t.split(":", 1)[1] for t in (run.tags or []) if t.startswith((HOST_TAG, PID_TAG))}
    if tags.get(HOST_TAG) != socket.gethostname() or not (tags.get(PID_TAG) or "").isdigit():
        return False
    pid = int(tags[PID_TAG])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _dataset_of(run: Any) -> str | None:
    out = (run.parameters or {}).get("out")
    if not isinstance(out, str):
        return None
    try:
        return storage.normalize_root(out)
    except Exception:  # noqa: BLE001 - a parameter that is no URL belongs to no dataset
        return None


def _all(read, **filters) -> list:
    found, offset = [], 0
    while True:
        page = read(**filters, limit=PAGE, offset=offset)
        found.extend(page)
        if len(page) < PAGE:
            return found
        offset += PAGE


class _Ancestry:
    """Whether nothing alive can report for a flow run any more: it or a flow run above it has
    ended, or the top-level run's process is gone (memoised: one read per run). Deciding from the
    top of the tree, rather than from what was marked so far, makes one pass enough whatever order
    the runs are listed in (the server lists a subflow before its parent)."""

    def __init__(self, client):
        self.client = client
        self.ended: dict[UUID, bool] = {}

    def parent_of(self, run) -> Any | None:
        if run.parent_task_run_id is None:
            return None
        task_run = self.client.read_task_run(run.parent_task_run_id)
        return self.client.read_flow_run(task_run.flow_run_id) if task_run.flow_run_id else None

    def has_ended(self, run) -> bool:
        if run.id not in self.ended:
            if run.state is not None and run.state.is_final():
                ended = True
            elif (parent := self.parent_of(run)) is not None:
                ended = self.has_ended(parent)
            else:  # top level: Scheduled and Paused runs may still be picked up, whatever their tags say
                ended = run.state is not None and run.state.type in UNFINISHED and _process_gone(run)
            self.ended[run.id] = ended
        return self.ended[run.id]


def mark_orphaned_runs(out: str | None = None, now: dt.datetime | None = None) -> dict[str, list[str]]:
    """Mark orphaned flow and task runs (of the dataset at `out`, or of every dataset) Crashed;
    return the names of the runs marked."""
    dataset = storage.normalize_root(out) if out else None
    message = orphan_message(now)
    marked: dict[str, list[str]] = {"flow_runs": [], "task_runs": []}
    with get_client(sync_client=True) as client:
        ancestry = _Ancestry(client)
        unfinished = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=UNFINISHED)))
        for run in _all(client.read_flow_runs, flow_run_filter=unfinished):
            if dataset is not None and _dataset_of(run) != dataset:
                continue
            if ancestry.has_ended(run):
                client.set_flow_run_state(run.id, Crashed(message=message), force=True)
                marked["flow_runs"].append(run.name)

        stuck = TaskRunFilter(state=TaskRunFilterState(type=TaskRunFilterStateType(any_=UNFINISHED)))
        tasks = [t for t in _all(client.read_task_runs, task_run_filter=stuck) if t.flow_run_id is not None]
        owners = {r.id: r for r in _all(client.read_flow_runs, flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=list({t.flow_run_id for t in tasks}))))} if tasks else {}
        for task in tasks:
            owner = owners.get(task.flow_run_id)
            if owner is None or (dataset is not None and _dataset_of(owner) != dataset):
                continue
            if ancestry.has_ended(owner):
                client.set_task_run_state(task.id, Crashed(message=message), force=True)
                marked["task_runs"].append(task.name)
    return marked
