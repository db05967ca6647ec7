"""Provenance: every stage run appends its resolved config, config hash and code version."""

from __future__ import annotations

import datetime as dt
import uuid

from hggt.core import manifests
from hggt.core.config import HGGTConfig


def record_stage_run(
    root: str, stage: str, cfg: HGGTConfig, code_version: str, started_at: dt.datetime, counts: dict,
    state: str = "completed",
) -> str:
    run_id = counts.get("run_id") or uuid.uuid4().hex
    row = {
        "run_id": run_id,
        "stage": stage,
        "started_at": started_at,
        "seconds": (dt.datetime.now(dt.timezone.utc) - started_at).total_seconds(),
        "config_hash": cfg.hash,
        "config_json": cfg.to_json(),
        "code_version": code_version,
        "items": counts.get("items", 0),
        "rejected": counts.get("rejected", 0),
        "computed": counts.get("computed", 0),
        "shards": counts.get("shards", 0),
        "shards_cached": counts.get("shards_cached", 0),
        "state": state,
    }
    table = manifests.merge("stage_runs", [manifests.read_or_empty(root, "stage_runs"), manifests.to_table("stage_runs", [row])])
    manifests.write(root, "stage_runs", table)
    return run_id

