"""Sharded, resumable item processing shared by every stage.

A shard task loops over its items. Each finished item leaves a small record
(``manifests/parts/<stage>/items/<item_id>.json``) keyed by the item's input fingerprint, the
stage config and the code version; a re-run after a crash, or after the shard boundaries moved,
reuses every record whose artifacts are still intact and computes only the rest. A finished
shard writes one Parquet part; the stage's final task merges the parts into the manifest.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from hggt_core import manifests, storage
from hggt_core.config import HGGTConfig
from tasks.caching import fingerprint
from tasks.runs import record_stage_run


@dataclass(frozen=True)
class ShardWork:
    stage: str
    manifest: str
    root: str
    shard_key: str
    config_hash: str
    code_version: str
    items: tuple[dict, ...]


@dataclass
class ItemOutput:
    rows: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    artifacts: list[tuple[str, int]] = field(default_factory=list)  # (uri relative to root, bytes)


@dataclass(frozen=True)
class PartResult:
    stage: str
    manifest: str
    shard_key: str
    part_uri: str
    part_sha256: str
    rejected_uri: str | None
    rows: int
    rejected: int
    items: int
    computed: int
    seconds: float


def shard_items(stage: str, items: list[dict], size: int) -> list[tuple[str, tuple[dict, ...]]]:
    """Consecutive chunks of the (sorted) items, each with the fingerprint of its inputs."""
    chunks = [tuple(items[i : i + size]) for i in range(0, len(items), size)]
    return [(fingerprint([stage, list(chunk)]), chunk) for chunk in chunks]


def _parts_dir(root: str, stage: str) -> str:
    return storage.join(root, "manifests", "parts", stage)


def _record_url(work: ShardWork, item_id: str) -> str:
    return storage.join(_parts_dir(work.root, work.stage), "items", f"{item_id}.json")


def _item_key(work: ShardWork, item: dict) -> str:
    return fingerprint([item, work.config_hash, work.code_version])


def _artifacts_intact(root: str, artifacts: Iterable[tuple[str, int]]) -> bool:
    return all(storage.size(storage.resolve(root, uri)) == size for uri, size in artifacts)


def _load_record(work: ShardWork, item: dict) -> ItemOutput | None:
    url = _record_url(work, item["item_id"])
    try:
        record = json.loads(storage.read_bytes(url))
    except (FileNotFoundError, ValueError):
        return None
    if record.get("key") != _item_key(work, item):
        return None
    out = ItemOutput(record["rows"], record["rejected"], [tuple(a) for a in record["artifacts"]])
    return out if _artifacts_intact(work.root, out.artifacts) else None


def _save_record(work: ShardWork, item: dict, out: ItemOutput) -> None:
    record = {"key": _item_key(work, item), "rows": out.rows, "rejected": out.rejected, "artifacts": out.artifacts}
    storage.atomic_write(_record_url(work, item["item_id"]), json.dumps(record, sort_keys=True).encode())


def run_shard(work: ShardWork, process: Callable[[dict], ItemOutput], on_item: Callable[[], None] | None = None) -> PartResult:
    started = time.perf_counter()
    rows: list[dict] = []
    rejected: list[dict] = []
    computed = 0
    for item in work.items:
        out = _load_record(work, item)
        if out is None:
            out = process(item)
            _save_record(work, item, out)
            computed += 1
        rows.extend(out.rows)
        rejected.extend(out.rejected)
        if on_item is not None:
            on_item()
    base = _parts_dir(work.root, work.stage)
    part = storage.join(base, f"{work.shard_key}.parquet")
    written = manifests.write_table(part, work.manifest, manifests.to_table(work.manifest, rows))
    rejected_uri = None
    if rejected:
        rejected_uri = storage.join(base, f"{work.shard_key}.rejected.parquet")
        manifests.write_table(rejected_uri, "rejected", manifests.to_table("rejected", rejected))
    return PartResult(
        stage=work.stage,
        manifest=work.manifest,
        shard_key=work.shard_key,
        part_uri=part,
        part_sha256=written.sha256,
        rejected_uri=rejected_uri,
        rows=len(rows),
        rejected=len(rejected),
        items=len(work.items),
        computed=computed,
        seconds=time.perf_counter() - started,
    )


def part_intact(root: str, result: PartResult, listing: dict[str, int] | None = None) -> bool:
    """The part file still has its recorded hash and every artifact it lists has its size."""
    try:
        data = storage.read_bytes(result.part_uri)
    except FileNotFoundError:
        return False
    if storage.sha256_bytes(data) != result.part_sha256:
        return False
    if result.rejected_uri and not storage.exists(result.rejected_uri):
        return False
    table = manifests.read_table(result.part_uri, result.manifest)
    if "bytes" not in table.column_names or "uri" not in table.column_names or root is None:
        return True
    listing = listing if listing is not None else list_artifact_sizes(root, table.column("uri").to_pylist())
    expected = zip(table.column("uri").to_pylist(), table.column("bytes").to_pylist())
    return all(listing.get(_fs_path(root, uri)) == size for uri, size in expected)


def list_artifact_sizes(root: str, uris: Iterable[str]) -> dict[str, int]:
    """Sizes of the given artifacts keyed by filesystem path, one listing per folder instead of
    one stat per file."""
    folders = {posixpath.dirname(_fs_path(root, uri)) for uri in uris}
    fs, _ = storage.url_to_fs(root)
    sizes: dict[str, int] = {}
    for folder in folders:
        try:
            infos = fs.find(folder, maxdepth=1, detail=True)
        except FileNotFoundError:
            continue
        sizes.update({p: int(info.get("size") or 0) for p, info in infos.items()})
    return sizes


def _fs_path(root: str, uri: str) -> str:
    return storage.url_to_fs(storage.resolve(root, uri))[1]


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
    base = _parts_dir(root, stage)
    storage.remove_temporaries(storage.join(base, "items"))
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
    }
    if extra is not None:
        counts.update(extra(table))
    counts["run_id"] = record_stage_run(root, stage, cfg, code, started_at, counts)
    counts["reasons"] = [(r["item_id"], r["reason"]) for r in stage_rejects]
    return counts
