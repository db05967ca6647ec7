"""Mistakes in a command line are reported in one line before Prefect starts a flow run."""

from __future__ import annotations

import asyncio
import json

from tests.flows.conftest import write_good_photos


def _flow_runs() -> int:
    from prefect.client.orchestration import get_client

    async def count() -> int:
        async with get_client() as client:
            return len(await client.read_flow_runs(limit=200))

    return asyncio.run(count())


def test_a_typo_is_one_line_exit_1_and_no_flow_run(tmp_path, run_cli):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=1)
    before = _flow_runs()
    cases = {
        ("ingest", "--input", str(photos), "--out", str(tmp_path / "ds"), "--preset", "demo", "--set", "patches.stpe=3"):
            "unknown config key 'patches.stpe'; did you mean 'patches.step'?",
        ("ingest", "--input", str(tmp_path / "nowhere"), "--out", str(tmp_path / "ds"), "--preset", "demo"):
            f"input {tmp_path / 'nowhere'} does not exist",
        ("ingest", "--input", str(photos), "--out", str(tmp_path / "ds"), "--preset", "papr"):
            "unknown preset 'papr'",
    }
    for args, expected in cases.items():
        proc = run_cli(*args, check=False)
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert len(lines) == 1 and expected in lines[0], lines
    assert _flow_runs() == before
    assert not (tmp_path / "ds").exists()


def test_a_command_on_a_missing_dataset_says_so_in_one_line(tmp_path, run_cli):
    missing = tmp_path / "no-such-dataset"
    for args in (("select", "--out", str(missing)), ("annotator", "train", "--out", str(missing))):
        proc = run_cli(*args, check=False)
        lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
        assert proc.returncode == 1 and len(lines) == 1, lines
        assert f"no dataset at {missing}" in lines[0]
    assert not missing.exists()


def test_the_cli_refuses_a_conflicting_preset_before_prefect_starts(tmp_path, run_cli):
    root = tmp_path / "ds"
    import datetime as dt

    from hggt.flows.stage import Stage
    from hggt.core.presets import load_config
    from hggt.core.stage_runs import record_stage_run

    Stage.open(str(root), "demo")
    record_stage_run(str(root), "ingest", load_config("demo"), "c", dt.datetime.now(dt.timezone.utc), {"items": 1})
    proc = run_cli("split", "--out", str(root), "--preset", "paper", check=False)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, lines
    assert "built with --preset demo" in lines[0]
    shown = run_cli("show-config", "--out", str(root))
    assert json.loads(shown.stdout.split("\nconfig hash")[0])["preset"] == "demo"
