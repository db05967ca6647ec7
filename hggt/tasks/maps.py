"""Prefect tasks of the maps stage: plan the labelled sets' shards, compute, merge (the item's
work is hggt.core.stage_work.maps)."""

from __future__ import annotations

from hggt.core.stage_work.maps import MAPS, load_maps  # noqa: F401 - load_maps: how the report reads a map file
from hggt.tasks.code_closure import code_version_of
from hggt.tasks.sharded import stage_tasks

CODE = code_version_of(__name__)
plan_maps, maps_shard, merge_maps = stage_tasks(MAPS, CODE, ("plan-maps", "maps-shard", "merge-maps"))
