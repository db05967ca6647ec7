"""Prefect task of the select stage: the sets to annotate (SPEC section 4, paper Sec. 3.3)."""

from __future__ import annotations

import datetime as dt

from prefect import task

from hggt.core import manifests
from hggt.core.config import HGGTConfig
from hggt.core.selection import select_sets
from hggt.tasks.code_closure import code_version_of
from hggt.core.stage_runs import record_stage_run

SELECT = "select"
CODE = code_version_of(__name__)

@task(name="select-sets", persist_result=False)
def select_task(root: str, cfg: HGGTConfig, started_at: dt.datetime) -> dict:
    patches = manifests.read(root, "patches").select(["patch_id", "texture_ok", "uri"]).to_pylist()
    enhanced = manifests.read(root, "enhanced").select(["patch_id", "version", "texture_ok", "mean_abs_diff", "uri"]).to_pylist()
    versions = tuple(s.version for s in cfg.enhancers.versions)
    sets, counts = select_sets(patches, enhanced, versions, cfg.select.min_diff, cfg.select.top_n)
    manifests.write_if_changed(root, "sets", manifests.to_table("sets", sets))
    uris = {(p["patch_id"], "original"): p["uri"] for p in patches}
    uris.update({(e["patch_id"], e["version"]): e["uri"] for e in enhanced})
    images = [{"set_id": s["set_id"], "file": f, "uri": uris[(s["patch_id"], f)]} for s in sets for f in ("original", *versions)]
    manifests.write_if_changed(root, "set_images", manifests.to_table("set_images", images))
    counts.update(items=len(sets), rejected=0, shards=0, shards_cached=0, computed=len(patches))  # a cheap pass over two manifests, not cached
    counts["run_id"] = record_stage_run(root, SELECT, cfg, CODE, started_at, counts)
    return counts

