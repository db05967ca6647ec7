"""The split stage and what train-sr takes from it: the train side only, all of it for ori."""

from __future__ import annotations

import shutil

import pytest

from hggt.flows.split import split_flow
from hggt.flows.train_sr import train_sr_flow
from hggt.core import manifests
from hggt.core.splits import TEST, TRAIN
from tests.flows.test_train_sr_stage import SR_TINY


def test_split_then_train_sr_on_the_train_side_only(labelled, tmp_path):
    src, sets = labelled
    root = tmp_path / "ds"
    shutil.copytree(src, root)
    (root / "manifests" / "splits.parquet").unlink()
    with pytest.raises(Exception, match="run `hggt split`"):
        train_sr_flow(out=str(root), arch="rrdb", mode="psnr", preset="demo", overrides=SR_TINY)
    # sets[0] is the only set with two positives: it is the test side, with its photo
    summary = split_flow(out=str(root), preset="demo", overrides=["split.test_sets=1"])
    rows = {r["set_id"]: r for r in manifests.read(str(root), "splits").to_pylist()}
    assert set(rows) == set(sets) and rows[sets[0]]["split"] == TEST and summary["test"] == 1
    photo = rows[sets[0]]["image_id"]
    assert all(r["split"] != TRAIN for r in rows.values() if r["image_id"] == photo)
    patches = {r["patch_id"]: r["image_id"] for r in manifests.read(str(root), "patches").to_pylist()}
    assert all(r["image_id"] == patches[s] for s, r in rows.items())  # photos from the patch manifest
    assert "split" in manifests.read(str(root), "stage_runs").column("stage").to_pylist()
    train = [s for s, r in rows.items() if r["split"] == TRAIN]
    usable_train = [s for s in train if rows[s]["usable"]]
    if not usable_train:
        pytest.skip("this fixture put every usable set on the test photo")
    psnr = train_sr_flow(out=str(root), arch="rrdb", mode="psnr", preset="demo", overrides=SR_TINY)
    pos = train_sr_flow(out=str(root), arch="rrdb", mode="pos", preset="demo", overrides=SR_TINY)
    assert psnr["sets"] == len(train) and pos["sets"] == len(usable_train)  # ori/psnr: every train set; pos: usable ones
    run = {r["run_id"]: r for r in manifests.read(str(root), "runs").to_pylist()}[pos["run_id"]]
    assert run["split_fingerprint"] == summary["fingerprint"]
    assert split_flow(out=str(root), preset="demo", overrides=["split.test_sets=1"])["computed"] == 0  # unchanged: not rewritten
