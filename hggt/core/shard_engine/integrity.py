"""Whether recorded artifacts are still what was written: missing, resized or edited files, found
with a listing per folder and a hash only of files modified since they were recorded."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable

from hggt.core import manifests, storage
from hggt.core.shard_engine.work import PartResult


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
    return artifact_problems(root, artifacts, mtime(fs.info(path)), listings)


def mtime(info: dict) -> float | None:
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
            found[p] = (int(info.get("size") or 0), mtime(info))
        return found
    listings = {} if listings is None else listings
    for folder in {posixpath.dirname(p) for p in paths}:
        if folder not in listings:
            try:
                infos = fs.find(folder, maxdepth=1, detail=True)
            except FileNotFoundError:
                infos = {}
            listings[folder] = {p: (int(info.get("size") or 0), mtime(info)) for p, info in infos.items()}
        found.update(listings[folder])
    return found


def _fs_path(root: str, uri: str) -> str:
    return storage.url_to_fs(storage.resolve(root, uri))[1]
