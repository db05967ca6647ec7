"""The shard engine under every sharded stage: it imports no Prefect (its logger, stop event and
per-item hook come in as :class:`ShardHooks`, see hggt.tasks.sharded), only what the stages' shard
tasks run on.

A shard task loops over its items (:mod:`.records`). Each finished item leaves a small record
(``manifests/parts/<stage>/items/<item_id>.json``) keyed by the item's input fingerprint, the
stage config and the code version; a re-run after a crash, or after the shard boundaries moved,
reuses every record whose artifacts are still intact (:mod:`.integrity`) and computes only the
rest. A finished shard writes one Parquet part; the stage's merge task merges the parts into the
manifest (:mod:`.merge`).
"""

from __future__ import annotations

from hggt.core.shard_engine.integrity import artifact_problems, list_artifacts, part_problems
from hggt.core.shard_engine.merge import finish_stage, merge_parts, merge_rejected, prune_parts
from hggt.core.shard_engine.records import TALLY, ShardHooks, ShardStopped, portable, run_shard
from hggt.core.shard_engine.work import ItemOutput, PartResult, ShardWork, parts_dir, shard_items

__all__ = ["TALLY", "ItemOutput", "PartResult", "ShardHooks", "ShardStopped", "ShardWork", "artifact_problems", "finish_stage", "list_artifacts",
           "merge_parts", "merge_rejected", "part_problems", "parts_dir", "portable", "prune_parts", "run_shard", "shard_items"]
