"""Prefect tasks of the patch-extraction stage: plan the ingested photos' shards, extract, merge
(the item's work is hggt.core.stage_work.patches)."""

from __future__ import annotations

from hggt.core.stage_work.patches import PATCHES
from hggt.tasks.code_closure import code_version_of
from hggt.tasks.sharded import stage_tasks

CODE = code_version_of(__name__)
plan_patches, extract_patch_shard, merge_patches = stage_tasks(PATCHES, CODE, ("plan-patches", "extract-patch-shard", "merge-patches"))
