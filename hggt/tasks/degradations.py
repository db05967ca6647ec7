"""Prefect tasks of degradation synthesis: LQ versions of the texture-passing patches for the
enhancement settings (`degrade`), and the fixed x4 LR test inputs (`synthesize-lr`); the items'
work is hggt.core.stage_work.degrade."""

from __future__ import annotations

from hggt.core.stage_work.degrade import DEGRADATION, LR_SYNTHESIS, LR_TEST  # noqa: F401 - LR_TEST: the LR draws evaluate repeats
from hggt.tasks.code_closure import code_version_of
from hggt.tasks.sharded import stage_tasks

CODE = code_version_of(__name__)
plan_degrade, degrade_shard, merge_degradations = stage_tasks(DEGRADATION, CODE, ("plan-degrade", "degrade-shard", "merge-degradations"))
plan_lr, lr_shard, merge_lr_test = stage_tasks(LR_SYNTHESIS, CODE, ("plan-synthesize-lr", "synthesize-lr-shard", "merge-lr-test"))
