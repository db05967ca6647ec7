"""Prefect task of the split stage: the held-out test sets of a labelled dataset (Test-100 rule)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from prefect import task

from hggt.core import manifests
from hggt.core.config import HGGTConfig
from hggt.core.splits import EXCLUDED, MIN_TEST_POSITIVES, TEST, TRAIN, assign_splits, imported_splits, split_fingerprint
from hggt.tasks.code_closure import code_version_of
from hggt.core.stage_runs import record_stage_run

STAGE = "split"
CODE = code_version_of(__name__)


def source_photos(root: str) -> dict[str, str]:
    """Set id -> source photo, through sets.parquet and patches.parquet (imported sets have neither
    and fall back to their {image}-{row}-{col} names)."""
    patches = {r["patch_id"]: r["image_id"] for r in manifests.read_or_empty(root, "patches").select(["patch_id", "image_id"]).to_pylist()}
    sets = manifests.read_or_empty(root, "sets").select(["set_id", "patch_id"]).to_pylist()
    return {r["set_id"]: patches[r["patch_id"]] for r in sets if r["patch_id"] in patches}


@task(name="split", persist_result=False)
def split_task(root: str, cfg: HGGTConfig, started_at: dt.datetime) -> dict:
    labels = manifests.read(root, "labels").select(["set_id", "effective_label", "usable"]).to_pylist()
    if not labels:
        raise ValueError("labels.parquet has no labelled set: annotate first (`hggt annotate ingest`)")
    imported = {r["set_id"] for r in manifests.read_or_empty(root, "set_sources").to_pylist() if r["side"] == TEST}
    if imported:  # the published Test tree is the paper's Test-100: kept, never redrawn
        rows = imported_splits(labels, source_photos(root), imported)
    else:
        rows = assign_splits(labels, source_photos(root), cfg.split.test_sets, cfg.seed)
    changed = manifests.write_if_changed(root, "splits", manifests.to_table("splits", rows))
    sides = Counter(r["split"] for r in rows)
    photos = {side: len({r["image_id"] for r in rows if r["split"] == side}) for side in (TRAIN, TEST)}
    reasons = []
    if not imported and sides[TEST] < cfg.split.test_sets:
        qualifying = sum(r["positives"] >= MIN_TEST_POSITIVES for r in rows)
        reasons.append(("test side", f"{sides[TEST]} test sets of the {cfg.split.test_sets} asked for: {qualifying} sets have "
                                     f"{MIN_TEST_POSITIVES}+ positives and whole photos must fit"))
    if sides[EXCLUDED]:
        why = ("Train-tree sets share a photo with a Test-tree set" if imported
               else f"sets of test photos have fewer than {MIN_TEST_POSITIVES} positives")
        reasons.append(("excluded", f"{sides[EXCLUDED]} {why}: neither tested nor trained on"))
    counts = {
        "items": len(rows), "train": sides[TRAIN], "test": sides[TEST], "excluded": sides[EXCLUDED],
        "train_usable": sum(r["usable"] for r in rows if r["split"] == TRAIN), "train_photos": photos[TRAIN],
        "test_photos": photos[TEST], "test_side": "the imported Test tree" if imported else "drawn (Test-100 rule)",
        "fingerprint": split_fingerprint(rows), "rejected": 0, "computed": int(changed), "shards": 1, "shards_cached": int(not changed),
    }
    counts["run_id"] = record_stage_run(root, STAGE, cfg, CODE, started_at, counts)
    counts["reasons"] = reasons
    return counts
