"""kill -9 in the middle of every stage of build-dataset, one stage per run, then a run that
finishes: the dataset equals an uninterrupted build's, training weights included."""

from __future__ import annotations

import os

import pyarrow as pa

import pytest

from hggt.core import manifests
from tests.flows.conftest import TINY, write_good_photos

FAULTY_TRAINING = ["enhancers.train.iterations=4", "enhancers.train.checkpoint_every=2", "enhancers.train.log_every=1"]
MANIFESTS = ("images", "patches", "degradations", "enhancers", "enhanced", "sets", "set_images", "lr_test", "votes", "labels", "maps")
VOLATILE = {"images": ["uri"], "enhancers": ["seconds"]}  # where the photos live; how long training took

pytestmark = pytest.mark.slow


def _table(root: str, name: str) -> pa.Table:
    table = manifests.read(root, name)
    return table.drop_columns(VOLATILE.get(name, []))


def test_kill_9_in_every_stage_then_a_rerun_gives_the_same_dataset(tmp_path, run_cli):
    photos = tmp_path / "photos"
    write_good_photos(photos, count=4, size=(200, 260))
    args = ["--preset", "demo", *[a for o in [*TINY, *FAULTY_TRAINING] for a in ("--set", o)]]
    reference, crashed = str(tmp_path / "reference"), str(tmp_path / "crashed")
    run_cli("build", "--input", str(photos), "--out", reference, *args)

    faults = tmp_path / "faults"
    env = {**os.environ, "HGGT_FAULT_DIR": str(faults), "HGGT_FAULT_AFTER": "3"}
    for attempt in range(20):  # noqa: B007 (read after the loop)
        result = run_cli("build", "--input", str(photos), "--out", crashed, *args, check=False, env=env)
        if result.returncode == 0:
            break
        assert result.returncode == -9, result.stdout + result.stderr  # killed, not a Python error
    else:
        raise AssertionError("the build never finished")
    killed = sorted(p.name for p in faults.iterdir())
    assert attempt == len(killed) >= 9
    assert {"ingest", "patches", "degrade", "enhancer-01", "enhancer-04", "enhance", "lr_test", "maps"} <= set(killed)
    for name in MANIFESTS:
        assert _table(crashed, name).equals(_table(reference, name)), name
