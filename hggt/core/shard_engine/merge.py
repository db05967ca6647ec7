"""A finished stage: its shard parts merged into the manifest and the rejected log, old parts pruned,
the run recorded."""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from hggt.core import catalog, manifests, storage
from hggt.core.config import HGGTConfig
from hggt.core.stage_runs import record_stage_run
from hggt.core.shard_engine.work import PartResult, parts_dir


def merge_parts(results: list[PartResult], name: str) -> pa.Table:
    return manifests.merge(name, (manifests.read_table(r.part_uri, name) for r in results))


def merge_rejected(root: str, stage: str, results: list[PartResult], extra: list[dict] | None = None) -> pa.Table:
    """The dataset's rejected manifest with this stage's rows replaced by this run's."""
    existing = manifests.read_or_empty(root, "rejected")
    keep = existing.filter(pa.compute.not_equal(existing["stage"], stage)) if existing.num_rows else existing
    tables = [keep] + [manifests.read_table(r.rejected_uri, "rejected") for r in results if r.rejected_uri]
    if extra:
        tables.append(manifests.to_table("rejected", extra))
    return manifests.merge("rejected", tables)


def prune_parts(root: str, stage: str, results: list[PartResult]) -> int:
    """Delete part files of earlier runs that this run's manifest no longer draws on, and files
    half-written by killed runs."""
    base = parts_dir(root, stage)
    storage.remove_temporaries(storage.join(root, catalog.item_records(stage)))
    storage.remove_temporaries(base)
    fs, path = storage.url_to_fs(base)
    if not fs.exists(path):
        return 0
    keep = {posixpath.basename(storage.url_to_fs(u)[1]) for r in results for u in (r.part_uri, r.rejected_uri) if u}
    removed = 0
    for p in fs.ls(path, detail=False):
        name = posixpath.basename(p.rstrip("/"))
        if name.endswith(".parquet") and name not in keep:
            fs.rm_file(p)
            removed += 1
    return removed


def finish_stage(
    root: str,
    stage: str,
    manifest: str,
    results: list[PartResult],
    cfg: HGGTConfig,
    code: str,
    started_at: dt.datetime,
    cached: int,
    artifact_dirs: tuple[str, ...] = (),
    extra: Callable[[pa.Table], dict] | None = None,
) -> dict:
    """Merge the shard parts into the stage's manifest and the rejected log, tidy up, record the
    run, and return the stage's counts."""
    table = merge_parts(results, manifest)
    manifests.write_if_changed(root, manifest, table)
    rejected = merge_rejected(root, stage, results)
    manifests.write_if_changed(root, "rejected", rejected)
    prune_parts(root, stage, results)
    for folder in artifact_dirs:
        storage.remove_temporaries(storage.join(root, folder))
    stage_rejects = rejected.filter(pc.equal(rejected["stage"], stage)).to_pylist()
    counts = {
        "inputs": sum(r.items for r in results),
        "items": table.num_rows,
        "rejected": len(stage_rejects),
        "shards": len(results),
        "shards_cached": cached,
        "computed": sum(r.computed for r in results),
        "core_seconds": round(sum(r.core_seconds for r in results), 3),
    }
    if extra is not None:
        counts.update(extra(table))
    counts["run_id"] = record_stage_run(root, stage, cfg, code, started_at, counts)
    counts["reasons"] = [(r["item_id"], r["reason"]) for r in stage_rejects]
    return counts
