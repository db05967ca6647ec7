"""Prefect tasks of human annotation: proxy votes, vote ingestion, aggregation (export: hggt.tasks.annotation_export)."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from prefect import task

from hggt.core import catalog, manifests, storage
from hggt.core.annotation.agreement import annotator_report, dawid_skene, fleiss_kappa, label_proportions, quality, vote_matrix
from hggt.core.annotation.labels import aggregate
from hggt.core.annotation.proxy import features, proxy_votes
from hggt.core.annotation.published import LabelFileError, image_path, label_file_from_votes, label_path, parse_label_file
from hggt.core.annotation.store import AnnotationStore, store_for  # noqa: F401 - store_for: the tasks' public name too
from hggt.core.config import HGGTConfig
from hggt.core.dataset import HGGTDataset
from hggt.core.images import decode_png
from hggt.tasks.annotation_export import export_task, write_admin_token, write_tokens  # noqa: F401 - the stage's tasks in one place
from hggt.tasks.code_closure import code_version_of
from hggt.tasks.published_import import import_published
from hggt.core.stage_runs import record_stage_run
from hggt.core.shard_engine import merge_rejected

EXPORT, INGEST, AGGREGATE = "annotate-export", "annotate-ingest", "annotate-aggregate"
CODE = code_version_of(__name__)
UTC = dt.timezone.utc


@task(name="annotate-proxy", persist_result=False)
def proxy_task(root: str, model: str | None = None) -> dict:
    """Votes of the proxy annotator for every set that has no human vote yet: the hand rules, or the
    learned annotator ``model`` (annotation.proxy_model)."""
    store = store_for(root)
    human = {v["set_id"] for v in store.votes() if v["source"] != "proxy"}
    if model:
        from hggt.tasks.annotator import learned_proxy_votes

        rows = learned_proxy_votes(root, sorted(s["set_id"] for s in store.sets() if s["set_id"] not in human), model)
        store.record_versions(rows)
        return {"sets": len({r["set_id"] for r in rows}), "votes": len(rows), "learned": model}
    described = {}
    for s in store.sets():
        if s["set_id"] in human:
            continue
        imgs = {f: decode_png(storage.read_bytes(u)) for f, u in s["images"].items()}
        described[s["set_id"]] = features(imgs.pop("original"), imgs)
    rows = proxy_votes(described)
    store.record_versions(rows)
    return {"sets": len({r["set_id"] for r in rows}), "votes": len(rows)}


def _timestamp(value) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=value.tzinfo or UTC)
    return dt.datetime.fromtimestamp(value, UTC)


def _write_app_label_files(root: str, store: AnnotationStore, votes: list[dict]) -> set[str]:
    """The app's votes also as published-format label files, labels/<annotator>/<set>.json;
    returns their URLs."""
    grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
    versions = {s["set_id"]: s["display_order"] for s in store.sets()}
    for v in votes:
        if v["source"] == "app":
            grouped[(v["annotator"], v["set_id"])].append(v)
    written = set()
    for (annotator, set_id), vs in grouped.items():
        if set_id not in versions or len(vs) != len(versions[set_id]):
            continue
        # By position (Picture_2.. = the versions in name order, 01..04), as the authors' loaders read
        # them; the order the annotator saw stays in assignments.parquet.
        data = label_file_from_votes(set_id, [{**v, "started_at": _timestamp(v["started_at"]), "ended_at": _timestamp(v["ended_at"])}
                                              for v in vs], versions[set_id])
        url = storage.join(root, "labels", annotator, f"{set_id}.json")
        storage.atomic_write(url, data)
        written.add(url)
    return written


@task(name="annotate-ingest", persist_result=False)
def ingest_task(input_url: str | None, root: str, cfg: HGGTConfig, started_at: dt.datetime) -> dict:
    """votes.parquet from the app's database and from label files (ours or the published dataset's)."""
    rejected: list[dict] = []
    votes: list[dict] = []
    seen: dict[tuple[str, str], str] = {}
    store = store_for(root)
    own_files: set[str] = set()
    if store.exists():
        app_votes = store.votes()
        own_files = _write_app_label_files(root, store, app_votes)
        for v in app_votes:
            seen.setdefault((v["annotator"], v["set_id"]), "the annotation app")
            votes.append({**v, "started_at": _timestamp(v["started_at"]), "ended_at": _timestamp(v["ended_at"])})
    files = storage.list_files(input_url, (".json", ".png")) if input_url else []
    known = set(manifests.read_or_empty(root, "sets").column("set_id").to_pylist())
    if input_url and not HGGTDataset(root).manifests() and not any(image_path(f.relpath) for f in files):
        raise ValueError(f"no dataset at {root}, and {input_url} is not the published HGGT layout (no images/<range>/original/*.png) "
                         "to create one from: build one first (`hggt build --input PHOTOS --out ...`)")
    imported, refused, import_counts = import_published(root, input_url, files, cfg, rejected, INGEST) if files else (set(), set(), {})
    known |= imported
    label_files = 0
    for f in files:
        where = label_path(f.relpath)
        if where is None or f.url in own_files:
            continue
        label_files += 1

        def reject(reason: str, f=f) -> None:
            rejected.append({"stage": INGEST, "item_id": f.relpath, "uri": f.url, "reason": reason})

        if where.set_id in refused and where.set_id not in known:
            reject(f"set {where.set_id} was not imported: its images were rejected (see images/{where.set_id})")
            continue
        if where.set_id not in known:
            reject(f"unknown set {where.set_id}: not in sets.parquet nor among the images")
            continue
        key = (where.annotator, where.set_id)
        if key in seen:
            reject(f"duplicate vote: annotator {where.annotator} already labelled set {where.set_id} in {seen[key]}")
            continue
        try:
            parsed = parse_label_file(storage.read_bytes(f.url), where.set_id)
        except LabelFileError as exc:
            reject(str(exc))
            continue
        seen[key] = f.relpath
        source = "published" if len(f.relpath.split("/")) - f.relpath.split("/").index("labels") == 4 else "files"
        for version, label in parsed.labels.items():
            votes.append({"set_id": where.set_id, "version": version, "annotator": where.annotator, "label": label,
                          "started_at": _timestamp(parsed.start), "ended_at": _timestamp(parsed.end),
                          "seconds": parsed.seconds, "source": source})
    table = manifests.merge("votes", [manifests.to_table("votes", votes)])
    manifests.write_if_changed(root, "votes", table)
    manifests.write_if_changed(root, "rejected", merge_rejected(root, INGEST, [], rejected))
    counts = {"items": table.num_rows, "rejected": len(rejected), "label_files": label_files, **import_counts,
              "sets_with_votes": len({v["set_id"] for v in votes}), "shards": 0, "shards_cached": 0, "computed": table.num_rows}
    counts["run_id"] = record_stage_run(root, INGEST, cfg, CODE, started_at, counts)
    counts["reasons"] = [(r["item_id"], r["reason"]) for r in rejected]
    return counts


@task(name="annotate-aggregate", persist_result=False)
def aggregate_task(root: str, cfg: HGGTConfig, started_at: dt.datetime) -> dict:
    """labels.parquet by the paper's rule, plus agreement statistics and a Dawid-Skene second opinion."""
    votes = manifests.read(root, "votes").to_pylist()
    human_sets = {v["set_id"] for v in votes if v["source"] != "proxy"}
    rejected = [
        {"stage": AGGREGATE, "item_id": s, "uri": None, "reason": "proxy votes ignored: the set has human votes"}
        for s in sorted({v["set_id"] for v in votes if v["source"] == "proxy"} & human_sets)
    ]
    human = [v for v in votes if v["source"] != "proxy"]
    proxy = [v for v in votes if v["source"] == "proxy" and v["set_id"] not in human_sets]
    rows, report = [], {}
    for source, group in (("human", human), ("proxy", proxy)):
        if not group:
            continue
        labels, short = aggregate(group, cfg.annotation.per_set)
        rows += [{**r, "source": source} for r in labels]
        rejected += [{"stage": AGGREGATE, "item_id": s, "uri": None,
                      "reason": f"fewer than {cfg.annotation.per_set} annotators voted on every version; left out of labels"} for s in short]
        report[source] = _agreement(group, labels, cfg.annotation.per_set)
        if source == "human":
            store = store_for(root)
            report[source]["quality"] = _quality(group, store.repeat_votes() if store.exists() else [], cfg.annotation.min_seconds,
                                                 report[source]["annotators"])
    table = manifests.to_table("labels", rows)
    manifests.write_if_changed(root, "labels", manifests.merge("labels", [table]))
    manifests.write_if_changed(root, "rejected", merge_rejected(root, AGGREGATE, [], rejected))
    storage.atomic_write(storage.join(root, catalog.agreement_report()), json.dumps(report, indent=2, default=str).encode())
    sets = {r["set_id"]: r["usable"] for r in rows}
    counts = {"items": len(rows), "sets": len(sets), "usable_sets": sum(sets.values()), "rejected": len(rejected),
              "sources": sorted(report), "shards": 0, "shards_cached": 0, "computed": len(rows)}
    counts["run_id"] = record_stage_run(root, AGGREGATE, cfg, CODE, started_at, counts)
    counts["report"] = report
    counts["reasons"] = [(r["item_id"], r["reason"]) for r in rejected]
    return counts


def _agreement(votes: list[dict], labels: list[dict], required: int) -> dict:
    items = sorted({(r["set_id"], r["version"]) for r in labels})
    matrix = vote_matrix(votes, items)
    full = matrix[matrix.sum(axis=1) == required]
    kappa = fleiss_kappa(full) if len(full) and required >= 2 else None
    effective = {(r["set_id"], r["version"]): r["effective_label"] for r in labels}
    ds = dawid_skene([v for v in votes if (v["set_id"], v["version"]) in effective])
    same = sum(ds.get(item) == label for item, label in effective.items())
    return {
        "fleiss_kappa": kappa, "items": len(items), "label_proportions": label_proportions(labels),
        "annotators": annotator_report(votes, labels),
        "dawid_skene": {"agreement_with_paper_rule": same / len(effective) if effective else None,
                        "label_proportions": label_proportions([{"effective_label": lab} for lab in ds.values()])},
    }


def _quality(votes: list[dict], repeat_votes: list[dict], min_seconds: float, annotators: list[dict]) -> dict:
    """Quality control per annotator (too-fast answers, self-consistency on repeated sets), also
    merged into the annotator rows so the dashboard's table shows it beside agreement."""
    per = quality(votes, repeat_votes, min_seconds)
    for row in annotators:
        row.update({k: per.get(row["annotator"], {}).get(k) for k in ("too_fast", "too_fast_share", "repeats_answered", "self_consistency")})
    consistent = [p for p in per.values() if p["self_consistency"] is not None]
    return {"min_seconds": min_seconds, "annotators": per,
            "too_fast": sum(p["too_fast"] for p in per.values()), "answers": sum(p["answers"] for p in per.values()),
            "repeats_answered": sum(p["repeats_answered"] for p in per.values()),
            "self_consistency": (sum(p["self_consistency"] * p["repeats_answered"] for p in consistent)
                                 / sum(p["repeats_answered"] for p in consistent)) if consistent else None}
