"""Prefect tasks of `export-dataset`: the labelled dataset in the published HGGT layout, one
Train/ and one Test/ tree (hggt.core.annotation.export_layout says where each file goes)."""

from __future__ import annotations

from collections import defaultdict

from prefect import task
from prefect.cache_policies import NO_CACHE

from hggt.core import manifests, storage
from hggt.core.annotation.export_layout import (
    LETTERS, MAPPING_FILE, PUBLISHED_LETTERS, TREES, mapping_csv, place_sets, versions_warning,
)
from hggt.core.annotation.labels import aggregate
from hggt.core.annotation.published import LabelFileError, label_file_from_votes
from hggt.core.splits import EXCLUDED
from hggt.tasks.retries import RETRIES
from hggt.core.shard_engine import merge_rejected

STAGE = "export-dataset"


def _chosen_votes(votes: list[dict]) -> dict[str, list[dict]]:
    """The votes behind labels.parquet, per set: human votes where a set has any, else proxy ones
    (the rule of the aggregate step)."""
    by_set: dict[str, list[dict]] = defaultdict(list)
    for v in votes:
        by_set[v["set_id"]].append(v)
    chosen = {}
    for set_id, vs in by_set.items():
        human = [v for v in vs if v["source"] != "proxy"]
        chosen[set_id] = human or vs
    return chosen


def _files(labels: list[dict]) -> list[str]:
    """A labelled set's images: the original and its versions (2 to 8), in name order."""
    return ["original", *sorted({r["version"] for r in labels})]


def _check_set(set_id: str, votes: list[dict], labels: list[dict], images: dict[str, str]) -> str | None:
    """Why the set cannot be exported as it is labelled, or None."""
    files = _files(labels)
    lacking = [f for f in files if f not in images]
    if lacking:
        return f"set {set_id} lacks its {', '.join(lacking)} image(s) in set_images.parquet; re-run `hggt select`"
    per_annotator: dict[str, int] = defaultdict(int)
    for v in votes:
        per_annotator[v["annotator"]] += 1
    if len(per_annotator) > len(LETTERS):
        return f"set {set_id} has {len(per_annotator)} annotators; the published layout names at most {len(LETTERS)} (A-Z)"
    partial = sorted(a for a, n in per_annotator.items() if n != len(files) - 1)
    if partial:
        return (f"set {set_id}: annotator(s) {', '.join(partial)} did not vote on all {len(files) - 1} versions, "
                "so no label file can hold their votes")
    # The label files must give back labels.parquet; votes edited since the last ingest would not.
    again, _ = aggregate(votes, len(per_annotator), files[1:])
    key = lambda r: (r["version"], r["effective_label"], r["vote_count"], r["usable"])  # noqa: E731
    if sorted(map(key, again)) != sorted(map(key, labels)):
        return f"set {set_id}: votes.parquet no longer gives its labels in labels.parquet; re-run `hggt annotate ingest`"
    return None


@task(name="export-dataset-plan", persist_result=False, cache_policy=NO_CACHE)
def plan_export(root: str, range_size: int) -> dict:
    """Which file goes where: per (tree, range) the sets with their image sources and label files."""
    if not storage.exists(manifests.manifest_url(root, "splits")):
        raise FileNotFoundError(f"no manifests/splits.parquet in {root}: run `hggt split --out {root}` first; the export "
                                "writes the held-out split as two trees, Train/ and Test/")
    splits = {r["set_id"]: r["split"] for r in manifests.read(root, "splits").to_pylist()}
    labels: dict[str, list[dict]] = defaultdict(list)
    for r in manifests.read(root, "labels").to_pylist():
        labels[r["set_id"]].append(r)
    votes = _chosen_votes(manifests.read(root, "votes").to_pylist())
    images: dict[str, dict[str, str]] = defaultdict(dict)
    for r in manifests.read_or_empty(root, "set_images").to_pylist():
        images[r["set_id"]][r["file"]] = storage.resolve(root, r["uri"])
    rejected, wanted = [], {}
    for set_id in sorted(labels):
        split = splits.get(set_id)
        reason = (f"set {set_id} is labelled but not in splits.parquet; re-run `hggt split`" if split is None
                  else None if split == EXCLUDED else _check_set(set_id, votes.get(set_id, []), labels[set_id], images[set_id]))
        if reason:
            rejected.append({"stage": STAGE, "item_id": set_id, "uri": None, "reason": reason})
        else:
            wanted[set_id] = split
    placed = place_sets(wanted, {s: {v["annotator"] for v in votes[s]} for s in wanted if wanted[s] != EXCLUDED}, range_size)
    ranges: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for p in placed:
        by_annotator: dict[str, list[dict]] = defaultdict(list)
        for v in votes[p.set_id]:
            by_annotator[v["annotator"]].append(v)
        try:
            versions = _files(labels[p.set_id])[1:]
            label_files = {p.label_relpath(p.letter_of(a)): label_file_from_votes(p.set_id, vs, versions) for a, vs in by_annotator.items()}
        except LabelFileError as exc:  # _check_set rules this out; kept so a gap names its set
            rejected.append({"stage": STAGE, "item_id": p.set_id, "uri": None, "reason": str(exc)})
            continue
        ranges[(p.tree, p.range)].append({"set_id": p.set_id, "labels": label_files,
                                          "images": {p.image_relpath(f): images[p.set_id][f] for f in _files(labels[p.set_id])}})
    exported = {s["set_id"] for sets in ranges.values() for s in sets}
    placed = [p for p in placed if p.set_id in exported]
    return {
        "ranges": [{"tree": t, "range": r, "sets": sets} for (t, r), sets in sorted(ranges.items())],
        "placed": placed,
        "excluded": sum(s == EXCLUDED for s in wanted.values()),
        "proxy_sets": sorted(s for s in exported if any(r["source"] == "proxy" for r in labels[s])),
        "not_three_annotators": sorted(p.set_id for p in placed if tuple(p.annotators) != PUBLISHED_LETTERS),
        "versions": {s: len(_files(labels[s])) - 1 for s in sorted(exported)},
        "rejected": rejected,
    }


def existing_files(dest: str) -> dict[str, int]:
    """Relative path -> size of the files already under the destination (one listing)."""
    try:
        return {f.relpath: f.size for f in storage.list_files(dest, (".png", ".json", ".csv"))}
    except FileNotFoundError:
        return {}


def _put(dest: str, relpath: str, data: bytes, existing: dict[str, int]) -> bool:
    """Write unless the same bytes are there already; True when written."""
    url = storage.join(dest, relpath)
    if existing.get(relpath) == len(data):
        try:
            if storage.read_bytes(url) == data:
                return False
        except FileNotFoundError:
            pass
    storage.atomic_write(url, data)
    return True


@task(name="export-dataset-range", persist_result=False, cache_policy=NO_CACHE, **RETRIES)
def write_range(dest: str, sets: list[dict], existing: dict[str, int]) -> dict:
    """One range folder of one tree: the image bytes unchanged, then the label files. A set whose
    images cannot be read is left out whole, with the reason."""
    written = unchanged = 0
    rejected, done = [], []
    for s in sets:
        try:
            blobs = {rel: storage.read_bytes(src) for rel, src in s["images"].items()}
        except FileNotFoundError as exc:
            rejected.append({"stage": STAGE, "item_id": s["set_id"], "uri": None,
                             "reason": f"set {s['set_id']}: image missing ({exc}); re-run the stage that made it"})
            continue
        for rel, data in [*blobs.items(), *s["labels"].items()]:
            if _put(dest, rel, data, existing):
                written += 1
            else:
                unchanged += 1
        done.append(s["set_id"])
    return {"written": written, "unchanged": unchanged, "sets": done, "rejected": rejected}


@task(name="export-dataset-finish", persist_result=False, cache_policy=NO_CACHE)
def finish_export(root: str, dest: str, plan: dict, results: list[dict], existing: dict[str, int]) -> dict:
    """The annotator mapping beside the trees, this run's rejections in rejected.parquet, the summary.
    ``results`` are those of write_range, in the order of ``plan["ranges"]``."""
    rejected = plan["rejected"] + [r for res in results for r in res["rejected"]]
    exported = {s for res in results for s in res["sets"]}
    wrote_mapping = _put(dest, MAPPING_FILE, mapping_csv(p for p in plan["placed"] if p.set_id in exported), existing)
    manifests.write_if_changed(root, "rejected", merge_rejected(root, STAGE, [], rejected))
    ours = {rel for r in plan["ranges"] for s in r["sets"] for rel in (*s["images"], *s["labels"])}
    stale = sorted(rel for rel in existing if rel.split("/")[0] in TREES.values() and rel not in ours)
    per_tree = {tree: sum(len(res["sets"]) for r, res in zip(plan["ranges"], results) if r["tree"] == tree) for tree in TREES.values()}
    odd = [s for s in plan["not_three_annotators"] if s in exported]
    summary = {
        "items": len(exported), "train_sets": per_tree["Train"], "test_sets": per_tree["Test"], "excluded_sets": plan["excluded"],
        "rejected": len(rejected), "ranges": len(plan["ranges"]),
        "files_written": sum(r["written"] for r in results) + wrote_mapping,
        "files_unchanged": sum(r["unchanged"] for r in results) + (not wrote_mapping),
        "proxy_sets": len([s for s in plan["proxy_sets"] if s in exported]), "sets_without_three_annotators": len(odd),
        "stale_files": len(stale), "dest": dest, "mapping": storage.join(dest, MAPPING_FILE),
        # the authors' loaders read four versions per set: any other count is said once, with the counts
        "versions_warning": versions_warning({s: n for s, n in plan["versions"].items() if s in exported}),
    }
    summary["reasons"] = [(r["item_id"], r["reason"]) for r in rejected]
    summary["reasons"] += [(rel, "in the destination but not written by this export; left in place") for rel in stale[:20]]
    return summary
