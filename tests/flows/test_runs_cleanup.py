"""Runs left Running under a killed parent are marked Crashed with the true reason, per dataset."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.states import Crashed, Pending, Running

from hggt.tasks.runs_cleanup import mark_orphaned_runs, process_tags


@flow(name="cleanup-parent")
def parent_flow(out: str) -> None: ...


@flow(name="cleanup-child")
def child_flow(out: str) -> None: ...


@task(name="cleanup-task")
def shard_task() -> None: ...


def _tree(client, out: str, parent_state, tags: list[str] | None = None) -> dict:
    """A parent flow run, the task run standing for its subflow, the subflow and one of its task runs."""
    parent = client.create_flow_run(parent_flow, parameters={"out": out}, state=parent_state, tags=tags)
    link = client.create_task_run(shard_task, parent.id, dynamic_key=f"link-{parent.id}", state=Running())
    child = client.create_flow_run(child_flow, parameters={"out": out}, parent_task_run_id=link.id, state=Running())
    shard = client.create_task_run(shard_task, child.id, dynamic_key=f"shard-{child.id}", state=Pending())
    return {"parent": parent.id, "link": link.id, "child": child.id, "shard": shard.id}


def _dead_pid() -> int:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return ended.pid


def _states(client, tree: dict) -> dict:
    flows = {k: client.read_flow_run(tree[k]).state for k in ("parent", "child")}
    tasks = {k: client.read_task_run(tree[k]).state for k in ("link", "shard")}
    return {**flows, **tasks}


def test_cleanup_marks_the_orphans_of_one_dataset_only(tmp_path, run_cli):
    mine, other = str(tmp_path / "mine"), str(tmp_path / "other")
    with get_client(sync_client=True) as client:
        killed = _tree(client, mine, Crashed(message="Flow run infrastructure exited with non-zero status code -9"))
        elsewhere = _tree(client, other, Crashed(message="killed"))
        live = _tree(client, mine, Running())

    proc = run_cli("runs", "cleanup", "--out", mine + "/")
    # The subflow's own task run in the parent follows the subflow's state (a Prefect server rule).
    assert "marked Crashed: 1 flow runs, " in proc.stdout, proc.stdout

    with get_client(sync_client=True) as client:
        states = _states(client, killed)
        for name in ("child", "link", "shard"):
            assert states[name].type.value == "CRASHED", (name, states[name])
            assert states[name].message.startswith("its process ended without reporting: killed or lost; hggt marked it on ")
            assert "memory" not in states[name].message
        assert "-9" in states["parent"].message  # the parent keeps the worker's own account
        assert all(s.type.value in ("RUNNING", "PENDING") for k, s in _states(client, elsewhere).items() if k != "parent")
        assert all(s.type.value in ("RUNNING", "PENDING") for s in _states(client, live).values())

    # Without a dataset, every dataset's orphans (other tests of this session may have left some).
    mark_orphaned_runs()
    with get_client(sync_client=True) as client:
        assert all(s.type.value == "CRASHED" for s in _states(client, elsewhere).values())
        assert all(s.type.value in ("RUNNING", "PENDING") for s in _states(client, live).values())


def test_the_next_build_of_the_dataset_marks_its_orphans(tmp_path):
    from hggt.flows.build_dataset import build_dataset_flow

    out = str(tmp_path / "ds")
    with get_client(sync_client=True) as client:
        killed = _tree(client, out, Crashed(message="killed"))
    (tmp_path / "photos").mkdir()
    with pytest.raises(ValueError, match="0 usable images"):
        build_dataset_flow(input=str(tmp_path / "photos"), out=out, preset="demo")
    with get_client(sync_client=True) as client:
        assert all(s.type.value == "CRASHED" for s in _states(client, killed).values())
        assert client.read_task_run(killed["shard"]).state.message.startswith("its process ended without reporting")


def test_a_top_level_run_whose_process_is_gone_is_marked(tmp_path):
    out = str(tmp_path / "ds")
    host, _ = process_tags()
    ended_pid = _dead_pid()
    with get_client(sync_client=True) as client:
        dead = client.create_flow_run(parent_flow, parameters={"out": out}, state=Running(), tags=[host, f"hggt-pid:{ended_pid}"])
        alive = client.create_flow_run(parent_flow, parameters={"out": out}, state=Running(), tags=process_tags())
        untagged = client.create_flow_run(parent_flow, parameters={"out": out}, state=Running())
    mark_orphaned_runs(out)
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(dead.id).state.type.value == "CRASHED"
        assert client.read_flow_run(dead.id).state.message.startswith("its process ended without reporting")
        assert client.read_flow_run(alive.id).state.type.value == "RUNNING"  # this test's own process
        assert client.read_flow_run(untagged.id).state.type.value == "RUNNING"  # maybe a worker's, elsewhere


def test_one_cleanup_marks_a_killed_command_and_its_running_subflow(tmp_path, monkeypatch):
    """kill -9 of a terminal's command leaves its run and the subflow it was in Running. Whatever
    order the server lists them in (here, the subflow first), one cleanup marks both and their task runs."""
    from hggt.tasks import runs_cleanup

    listed = runs_cleanup._all
    monkeypatch.setattr(runs_cleanup, "_all", lambda read, **filters: sorted(
        listed(read, **filters), key=lambda run: getattr(run, "parent_task_run_id", None) is None))
    out = str(tmp_path / "ds")
    host, _ = process_tags()
    with get_client(sync_client=True) as client:
        killed = _tree(client, out, Running(), tags=[host, f"hggt-pid:{_dead_pid()}"])
    marked = mark_orphaned_runs(out)
    assert len(marked["flow_runs"]) == 2, marked
    with get_client(sync_client=True) as client:
        states = _states(client, killed)
    assert all(s.type.value == "CRASHED" for s in states.values()), states
    assert all(s.message.startswith("its process ended without reporting") for s in states.values()), states
