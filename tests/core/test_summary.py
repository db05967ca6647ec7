"""The dataset summary: label shares and the held-out runs table."""

from __future__ import annotations

import datetime as dt

import pytest

from hggt.core.summary import demo_misses, held_out_table, label_shares


def test_label_shares_per_version_and_overall():
    labels = [{"version": v, "effective_label": lab} for v, lab in
              [("01", "Positive"), ("01", "Negative"), ("02", "Similar"), ("02", "Similar"), ("03", "Positive"), ("04", "Negative")]]
    shares = label_shares(labels)
    assert shares["01"] == {"Positive": 0.5, "Similar": 0.0, "Negative": 0.5}
    assert shares["02"]["Similar"] == 1.0 and shares["04"]["Negative"] == 1.0
    assert shares["all"] == pytest.approx({"Positive": 2 / 6, "Similar": 2 / 6, "Negative": 2 / 6})
    assert demo_misses(shares["all"]) == [] and demo_misses(shares["02"]) == ["Positive 0% < 20%", "Negative 0% < 10%"]


def test_only_runs_scored_on_the_held_out_side_are_listed():
    now = dt.datetime.now(dt.timezone.utc)
    runs = {"a": {"run_id": "a", "arch": "rrdb", "mode": "pos", "created_at": now},
            "b": {"run_id": "b", "arch": "rrdb", "mode": "posneg", "created_at": now}}
    row = {"gt_version": "01", "lpips": None, "dists": None, "artifact_rate": 0.25}
    metrics = [{**row, "run_id": "a", "test_set": "dataset", "set_id": "s", "psnr": 20.0, "ssim": 0.5},
               {**row, "run_id": "b", "test_set": "dataset", "set_id": "s", "psnr": 22.0, "ssim": 0.6},
               {**row, "run_id": "b", "test_set": "dataset-train-sets", "set_id": "t", "psnr": 40.0, "ssim": 0.9}]
    table = held_out_table(metrics, runs)
    assert [(r["run"], r["PSNR"], r["images"]) for r in table] == [("a", 20.0, 1), ("b", 22.0, 1)]
    assert table[1]["training GT"] == "Pos+Neg GT" and table[1]["artifact rate"] == 0.25


def test_declared_enhancers_are_not_counted_as_trained():
    from hggt.core.summary import enhancer_counts

    mixed = {"items": 2, "trained": 2, "declared": {"zoo": "ESRGAN 2x"}}
    assert enhancer_counts(mixed) == {"enhancers trained": 2, "enhancers declared (model files, not trained)": 1}
    alone = {"items": 2, "trained": 0, "declared": {"zoo": "ESRGAN 2x", "swin": "SwinIR 4x"}}  # items: the stage's records
    assert enhancer_counts(alone) == {"enhancers declared (model files, not trained)": 2}
    shipped = {"items": 4, "trained": 4, "pretrained": "/shipped", "declared": {}}
    assert enhancer_counts(shipped) == {"enhancers adopted ready-made": 4}
