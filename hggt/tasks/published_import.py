"""Sets of the published HGGT layout imported by `annotate ingest` (called from hggt.tasks.annotation).

A dataset that is new, or was made by such an import, takes the sets in as its own: each image is
hard-linked to where hggt's own stages put a crop and its versions (``original/<set>.png``,
``01/<set>_01.png`` ...; a copy where linking is impossible: another filesystem, object stores), and
images, patches, enhanced, sets, set_images and set_sources are written as if hggt had built them.
Links take no second copy of the published dataset's ~100,000 PNGs and the dataset still holds
every file it names (it moves like any other); published files are never written to. A dataset
built from photos keeps them apart from its own crops: imported sets are referenced where they lie.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow.compute as pc

from hggt.core import catalog, manifests, storage
from hggt.core.published_import import PublishedSet, crop_position, describe_set, scan, set_item, set_of_item
from hggt.core.config import HGGTConfig
from hggt.core.images import ImageRejected, decode_png
from hggt.core.splits import image_of

PUBLISHED = "published"  # images.parquet status of a photo known only by its published crops
OWN = ("images", "patches", "sets")


def owns_imports(root: str) -> bool:
    """Whether imported sets become the dataset's own: it is new, or has no photo of its own."""
    images = manifests.read_or_empty(root, "images")
    if images.num_rows:
        return bool(pc.all(pc.equal(images["status"], PUBLISHED)).as_py())
    return not any(storage.exists(manifests.manifest_url(root, name)) for name in OWN)


@dataclass
class Imported:
    set_id: str
    rows: dict[str, list[dict]]  # manifest -> rows
    reason: str | None = None


def _import_set(root: str, s: PublishedSet, cfg: HGGTConfig) -> Imported:
    def refuse(reason: str) -> Imported:
        return Imported(s.set_id, {}, f"set {s.set_id}: {reason}")

    data, arrays = {}, {}
    for f, url in s.urls.items():
        try:
            data[f] = storage.read_bytes(url)
            arrays[f] = decode_png(data[f])
        except FileNotFoundError:
            return refuse(f"{s.relpaths[f]} is missing")
        except ImageRejected as exc:
            return refuse(f"{s.relpaths[f]}: {exc}")
    try:
        stats = describe_set(arrays, cfg.patches)
    except ValueError as exc:
        return refuse(str(exc))
    linked = {}
    row, col = crop_position(s.set_id)
    rows: dict[str, list[dict]] = {"enhanced": [], "set_images": []}
    for f in sorted(data):
        uri = catalog.original(s.set_id) if f == "original" else catalog.enhanced(f, s.set_id)
        linked[f] = storage.link_or_write(s.urls[f], storage.resolve(root, uri), data[f])
        std, lap, ok = stats.textures[f]
        common = {"uri": uri, "sha256": storage.sha256_bytes(data[f]), "bytes": len(data[f]), "gray_std": std, "lap_var": lap,
                  "texture_ok": ok}
        if f == "original":
            rows["patches"] = [{"patch_id": s.set_id, "image_id": image_of(s.set_id), "row": row, "col": col, "size": stats.size, **common}]
        else:
            rows["enhanced"].append({"patch_id": s.set_id, "version": f, "mean_abs_diff": stats.diffs[f], **common})
        rows["set_images"].append({"set_id": s.set_id, "file": f, "uri": uri})
    transfer = "link" if all(linked.values()) else "copy"
    rows["set_sources"] = [{"set_id": s.set_id, "side": s.side, "range": s.range, "source_uri": s.urls["original"], "transfer": transfer}]
    rows["sets"] = [{"set_id": s.set_id, "patch_id": s.set_id, "max_diff": stats.max_diff}]
    return Imported(s.set_id, rows)


def _merge(root: str, name: str, rows: list[dict]) -> None:
    if rows:
        table = manifests.merge(name, [manifests.read_or_empty(root, name), manifests.to_table(name, rows)])
        manifests.write_if_changed(root, name, table)


def _ranked(root: str, sets: list[dict]) -> list[dict]:
    """New sets after the known ones, in set id order (the published files have no rank)."""
    known = manifests.read_or_empty(root, "sets").column("rank").to_pylist()
    start = (max(known, default=0) or 0) + 1
    return [{**s, "rank": start + i} for i, s in enumerate(sorted(sets, key=lambda s: s["set_id"]))]


def import_owned(root: str, input_url: str, cfg: HGGTConfig, sets: dict[str, PublishedSet], rejected: list[dict],
                 stage: str) -> dict:
    """Link (or copy) every set not imported before, check and describe its images (decoded in
    threads: OpenCV releases the GIL) and record it; a set that fails is reported and left out."""
    done = {r["set_id"]: r["source_uri"] for r in manifests.read_or_empty(root, "set_sources").to_pylist()}
    todo = [s for s in sets.values() if done.get(s.set_id) != s.urls["original"]]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda s: _import_set(root, s, cfg), todo))
    rows: dict[str, list[dict]] = {}
    for r in results:
        if r.reason:
            rejected.append({"stage": stage, "item_id": set_item(r.set_id), "uri": sets[r.set_id].urls["original"], "reason": r.reason})
        for name, rs in r.rows.items():
            rows.setdefault(name, []).extend(rs)
    first_crop: dict[str, str] = {}  # photo -> its first crop's path in the input, for images.relpath
    for p in sorted(rows.get("patches", []), key=lambda p: p["patch_id"]):
        first_crop.setdefault(p["image_id"], sets[p["patch_id"]].relpaths["original"])
    rows["images"] = [{"image_id": i, "uri": input_url, "relpath": rel, "status": PUBLISHED,
                       "reason": "the published HGGT dataset holds its crops, not this photo"} for i, rel in first_crop.items()]
    rows["sets"] = _ranked(root, rows.get("sets", []))
    for name in ("images", "patches", "enhanced", "sets", "set_images", "set_sources"):  # set_sources last: it marks a set done
        _merge(root, name, rows.get(name, []))
    transfers = [r["transfer"] for r in rows.get("set_sources", [])]
    return {"imported": sum(not r.reason for r in results), "already": len(sets) - len(todo), "linked": transfers.count("link"),
            "copied": transfers.count("copy"), "failed": {r.set_id for r in results if r.reason}}


def import_referenced(root: str, sets: dict[str, PublishedSet]) -> None:
    """Sets new to a dataset built from photos: recorded where they lie (full URLs), so they never
    mix with its crops on disk nor compete in `hggt select`."""
    known = set(manifests.read_or_empty(root, "sets").column("set_id").to_pylist())
    new = {k: s for k, s in sets.items() if k not in known}
    _merge(root, "sets", _ranked(root, [{"set_id": k, "patch_id": k, "max_diff": None} for k in new]))
    _merge(root, "set_images", [{"set_id": k, "file": f, "uri": u} for k, s in new.items() for f, u in s.urls.items()])
    _merge(root, "set_sources", [{"set_id": k, "side": s.side, "range": s.range, "source_uri": s.urls["original"], "transfer": "reference"}
                                 for k, s in new.items()])


def import_published(root: str, input_url: str, files: list[storage.ListedFile], cfg: HGGTConfig, rejected: list[dict],
                     stage: str) -> tuple[set[str], set[str], dict]:
    """The sets of a published-layout input: (sets now in the dataset, sets refused, counts)."""
    sets, problems = scan((f.relpath, f.url) for f in files)
    refused = {set_of_item(item) for item, _ in problems}
    rejected += [{"stage": stage, "item_id": item, "uri": None, "reason": reason} for item, reason in problems]
    counts = {"published_sets": len(sets)}
    if not sets:
        return set(), refused, counts
    if owns_imports(root):
        counts.update(import_owned(root, input_url, cfg, sets, rejected, stage))
        refused |= counts.pop("failed")
    else:
        import_referenced(root, sets)
    return set(sets) - refused, refused, counts
