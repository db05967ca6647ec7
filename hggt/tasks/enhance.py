"""Prefect tasks of the enhance stage: plan the photos' shards, enhance (tagged for GPU slots),
merge (the item's work is hggt.core.stage_work.enhance)."""

from __future__ import annotations

from hggt.core import networks
from hggt.core.networks import ENHANCER
from hggt.core.stage_work.enhance import ENHANCEMENT
from hggt.tasks.code_closure import code_version_of
from hggt.tasks.sharded import stage_tasks

CODE = code_version_of(__name__, *networks.modules(ENHANCER))
plan_enhance, enhance_shard, merge_enhanced = stage_tasks(ENHANCEMENT, CODE, ("plan-enhance", "enhance-shard", "merge-enhanced"), tags=("gpu",))
