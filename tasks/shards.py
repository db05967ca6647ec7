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
import logging
import os
import posixpath
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

from hggt_core import manifests, storage
from hggt_core.config import HGGTConfig
from tasks import faults
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
    artifacts: list[tuple[str, int, str]] = field(default_factory=list)  # (uri relative to root, bytes, sha256)


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
    core_seconds: float = 0.0  # spent computing items (decoding, science, encoding, writing artifacts)


def shard_items(stage: str, items: list[dict], size: int) -> list[tuple[str, tuple[dict, ...]]]:
    """Consecutive chunks of the (sorted) items, each with the fingerprint of its inputs."""
    chunks = [tuple(items[i : i + size]) for i in range(0, len(items), size)]
    return [(fingerprint([stage, list(chunk)]), chunk) for chunk in chunks]


def _parts_dir(root: str, stage: str) -> str:
    return storage.join(root, "manifests", "parts", stage)


def _record_url(work: ShardWork, item_id: str) -> str:
    return storage.join(_parts_dir(work.root, work.stage), "items", f"{item_id}.json")


def _item_key(work: ShardWork, item: dict) -> str:
    return fingerprint([portable(item, work.root), work.config_hash, work.code_version])


def portable(obj, root: str):
    """``obj`` with the dataset's own location written as "<root>", so that the key of an item whose
    inputs lie in the dataset (degrade, synthesize-lr) survives moving the dataset (cp -a, a copy
    to object storage); items that name no file of the dataset keep their key unchanged."""
    prefix = root.rstrip("/") + "/"
    if isinstance(obj, str):
        return "<root>/" + obj[len(prefix):] if obj.startswith(prefix) else obj
    if isinstance(obj, dict):
        return {k: portable(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [portable(v, root) for v in obj]
    return obj


def _logger():
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("hggt")


def artifact_problems(
    root: str, artifacts: list[tuple[str, int, str | None]], written_at: float | None, listings: dict | None = None
) -> list[str]:
    """What is wrong with artifacts recorded at ``written_at``: missing, another size, or, when a
    file was modified after it was recorded (or HGGT_VERIFY=1 asks for every file), content that no
    longer has its sha256. Only those files are read, so a clean re-run costs a listing."""
    verify_all = os.environ.get("HGGT_VERIFY", "") not in ("", "0")
    listing = list_artifacts(root, [a[0] for a in artifacts], listings)
    problems = []
    for uri, size, sha in artifacts:
        found = listing.get(_fs_path(root, uri))
        if found is None:
            problems.append(f"{uri}: missing")
        elif found[0] != size:
            problems.append(f"{uri}: {found[0]} bytes where {size} were recorded (truncated or replaced)")
        elif sha and (verify_all or (written_at is not None and found[1] is not None and found[1] > written_at + 1.0)):
            if storage.sha256_bytes(storage.read_bytes(storage.resolve(root, uri))) != sha:
                problems.append(f"{uri}: content no longer matches its recorded sha256 (edited)")
    return problems


def _load_record(work: ShardWork, item: dict) -> ItemOutput | None:
    url = _record_url(work, item["item_id"])
    try:
        record = json.loads(storage.read_bytes(url))
        written_at = _mtime(storage.url_to_fs(url)[0].info(storage.url_to_fs(url)[1]))
    except (FileNotFoundError, ValueError):
        return None
    if record.get("key") != _item_key(work, item):
        return None
    out = ItemOutput(record["rows"], record["rejected"], [tuple(a) + (None,) * (3 - len(a)) for a in record["artifacts"]])
    problems = artifact_problems(work.root, out.artifacts, written_at)
    for problem in problems:
        _logger().warning("%s item %s will be recomputed: %s", work.stage, item["item_id"], problem)
    return None if problems else out


def _save_record(work: ShardWork, item: dict, out: ItemOutput) -> None:
    record = {"key": _item_key(work, item), "rows": out.rows, "rejected": out.rejected, "artifacts": out.artifacts}
    storage.atomic_write(_record_url(work, item["item_id"]), json.dumps(record, sort_keys=True).encode())


def run_shard(work: ShardWork, process: Callable[[dict], ItemOutput]) -> PartResult:
    started = time.perf_counter()
    rows: list[dict] = []
    rejected: list[dict] = []
    computed, core = 0, 0.0
    for item in work.items:
        out = _load_record(work, item)
        if out is None:
            t0 = time.perf_counter()
            out = process(item)
            core += time.perf_counter() - t0
            _save_record(work, item, out)
            computed += 1
            faults.checkpoint(work.stage.split("/")[0])
        rows.extend(out.rows)
        rejected.extend(out.rejected)
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
        core_seconds=core,
    )


def part_problems(root: str, result: PartResult, listings: dict | None = None) -> list[str]:
    """Why a cached shard's outputs can no longer be trusted (nothing: they can)."""
    try:
        data = storage.read_bytes(result.part_uri)
    except FileNotFoundError:
        return [f"{result.part_uri}: missing"]
    if storage.sha256_bytes(data) != result.part_sha256:
        return [f"{result.part_uri}: content no longer matches its recorded sha256"]
    if result.rejected_uri and not storage.exists(result.rejected_uri):
        return [f"{result.rejected_uri}: missing"]
    table = manifests.read_table(result.part_uri, result.manifest)
    if not {"uri", "bytes"} <= set(table.column_names):
        return []
    shas = table.column("sha256").to_pylist() if "sha256" in table.column_names else [None] * table.num_rows
    artifacts = list(zip(table.column("uri").to_pylist(), table.column("bytes").to_pylist(), shas))
    fs, path = storage.url_to_fs(result.part_uri)
    return artifact_problems(root, artifacts, _mtime(fs.info(path)), listings)


def _mtime(info: dict) -> float | None:
    stamp = info.get("mtime") or info.get("LastModified") or info.get("created")
    if stamp is None:
        return None
    return stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp)


_FEW = 64  # up to this many files are looked up one by one; more, through folder listings


def list_artifacts(root: str, uris: Iterable[str], listings: dict | None = None) -> dict[str, tuple[int, float | None]]:
    """(size, modification time) of the given artifacts keyed by filesystem path: a lookup per file
    for a few, one listing per folder for many (kept in ``listings`` to serve later calls), so
    checking every shard of a stage costs one pass over its folders, not one per shard."""
    paths = [_fs_path(root, uri) for uri in uris]
    fs, _ = storage.url_to_fs(root)
    found: dict[str, tuple[int, float | None]] = {}
    if len(paths) <= _FEW and listings is None:
        for p in paths:
            try:
                info = fs.info(p)
            except FileNotFoundError:
                continue
            found[p] = (int(info.get("size") or 0), _mtime(info))
        return found
    listings = {} if listings is None else listings
    for folder in {posixpath.dirname(p) for p in paths}:
        if folder not in listings:
            try:
                infos = fs.find(folder, maxdepth=1, detail=True)
            except FileNotFoundError:
                infos = {}
            listings[folder] = {p: (int(info.get("size") or 0), _mtime(info)) for p, info in infos.items()}
        found.update(listings[folder])
    return found


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


PUBLISHED = ("patches", "enhance")


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
    if stage in PUBLISHED:  # their crops are also linked into annotation/images/, which must follow a recomputation
        from tasks.annotation_export import refresh_published

        counts["relinked"] = refresh_published(root)
    counts["run_id"] = record_stage_run(root, stage, cfg, code, started_at, counts)
    counts["reasons"] = [(r["item_id"], r["reason"]) for r in stage_rejects]
    return counts
