"""A dataset remembers the preset and overrides it was built with (issue 26)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hggt.flows.stage import Stage
from hggt.core import presets
from hggt.core.build_record import read_build, resolve_for_dataset


def test_a_new_dataset_records_its_build_and_later_commands_use_it(tmp_path):
    root = str(tmp_path / "ds")
    _, cfg = Stage.open(root, "demo", ["patches.step=60"])
    assert cfg.preset == "demo" and cfg.patches.step == 60
    record = json.loads((tmp_path / "ds" / "build.json").read_text())
    assert record["preset"] == "demo" and record["overrides"] == {"patches": {"step": 60}}
    assert read_build(root) is None  # binding once a stage has finished: a failed first command binds nothing
    _stage_ran(root)

    _, later = Stage.open(root)  # no --preset, no --set: the build's
    assert later == presets.load_config("demo", {"patches": {"step": 60}})
    # The demo's generator, not the paper's 23-block RRDB (what train-sr built before).
    assert later.train_sr.rrdb.blocks == presets.load_config("demo").train_sr.rrdb.blocks != presets.load_config("paper").train_sr.rrdb.blocks
    _, told = Stage.open(root, None, ["patches.step=64"])  # a command's own override wins
    assert told.patches.step == 64
    _, same = Stage.open(root, "demo")
    assert same == later


def _stage_ran(root: str) -> None:
    from hggt.core.stage_runs import record_stage_run

    record_stage_run(root, "ingest", presets.load_config("demo"), "c", dt.datetime.now(dt.timezone.utc), {"items": 1})


def test_a_conflicting_preset_is_refused_in_one_line(tmp_path):
    root = str(tmp_path / "ds")
    Stage.open(root, "demo")
    _stage_ran(root)
    with pytest.raises(ValueError) as err:
        resolve_for_dataset(root, "paper", None, None)
    message = str(err.value)
    assert "\n" not in message and "built with --preset demo" in message and "--preset paper" in message


def test_a_failed_first_command_binds_nothing(tmp_path):
    root = str(tmp_path / "ds")
    Stage.open(root, "demo")  # its stage then failed: no stage run
    assert Stage.open(root, "paper").cfg.preset == "paper"
    assert json.loads((tmp_path / "ds" / "build.json").read_text())["preset"] == "paper"


def test_a_dataset_older_than_the_record_is_read_from_its_first_stage_run(tmp_path):
    from hggt.core.stage_runs import record_stage_run

    root = str(tmp_path / "old")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    record_stage_run(root, "ingest", presets.load_config("demo"), "c", start, {"items": 1})
    record_stage_run(root, "maps", presets.load_config("paper"), "c", start + dt.timedelta(days=1), {"items": 1})
    record = read_build(root)
    assert record is not None and record.preset == "demo" and record.source == "stage run"
    assert resolve_for_dataset(root, None, None, None)[0].preset == "demo"

