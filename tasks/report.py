"""Prefect task of the dataset report: gathers counts, rejections, labels, examples, maps and
metric tables from the manifests and renders one self-contained HTML file."""

from __future__ import annotations

import json
from collections import defaultdict

import cv2
import pyarrow.compute as pc
from prefect import task

from hggt_core import manifests, storage
from hggt_core.evaluation import table3
from hggt_core.images import decode_png, encode_png
from hggt_core.report import ExampleSet, ReportData, render

_STAGES = (("images (ok)", "images"), ("candidate crops", "patches"), ("LQ images", "degradations"), ("LR test inputs", "lr_test"),
           ("enhancers", "enhancers"), ("enhanced crops", "enhanced"), ("annotation sets", "sets"), ("votes", "votes"),
           ("labelled versions", "labels"), ("indication maps", "maps"), ("Real-ISR runs", "runs"), ("metric rows", "metrics"))


def _read(root: str, name: str):
    return manifests.read_or_empty(root, name)


def _thumb(data: bytes, size: int = 140) -> bytes:
    return encode_png(cv2.resize(decode_png(data), (size, size), interpolation=cv2.INTER_AREA))


@task(name="dataset-report", persist_result=False)
def report_task(root: str, examples: int = 6) -> dict:
    counts = []
    for label, name in _STAGES:
        t = _read(root, name)
        if name == "images":
            counts.append(("images (ok)", t.filter(pc.equal(t["status"], "ok")).num_rows if t.num_rows else 0))
            counts.append(("images (rejected)", t.num_rows - counts[-1][1]))
        else:
            counts.append((label, t.num_rows))
    patches = _read(root, "patches")
    if patches.num_rows:
        counts.insert(3, ("texture-passing crops", int(pc.sum(patches["texture_ok"]).as_py() or 0)))
    labels = _read(root, "labels").to_pylist()
    usable = {r["set_id"] for r in labels if r["usable"]}
    counts.append(("usable sets", len(usable)))

    runs_table = _read(root, "stage_runs").to_pylist()
    latest = {}
    for r in sorted(runs_table, key=lambda r: r["started_at"]):
        latest[r["stage"]] = {"stage": r["stage"], "started": str(r["started_at"])[:19], "seconds": round(r["seconds"], 1),
                              "items": r["items"], "rejected": r["rejected"], "cached shards": f"{r['shards_cached']}/{r['shards']}",
                              "config": r["config_hash"]}
    rejected = _read(root, "rejected").to_pylist()

    by_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in labels:
        by_source[r["source"]][r["effective_label"]] += 1
    proportions = {s: {k: v / sum(c.values()) for k, v in sorted(c.items())} for s, c in by_source.items()}
    agreement_url = storage.join(root, "annotation", "agreement.json")
    agreement = json.loads(storage.read_bytes(agreement_url)) if storage.exists(agreement_url) else {}

    images = {(r["set_id"], r["file"]): r["uri"] for r in _read(root, "set_images").to_pylist()}
    by_set = defaultdict(dict)
    for r in labels:
        by_set[r["set_id"]][r["version"]] = (r["effective_label"], r["vote_count"])
    example_sets = []
    for set_id in sorted(usable)[:examples]:
        files = {f: _thumb(storage.read_bytes(storage.resolve(root, images[(set_id, f)]))) for f in ("original", "01", "02", "03", "04")}
        example_sets.append(ExampleSet(set_id, files, by_set[set_id]))
    figures = [(r["set_id"], storage.read_bytes(storage.resolve(root, r["figure_uri"])))
               for r in _read(root, "maps").to_pylist() if r["figure_uri"]][:examples]

    metrics = _read(root, "metrics").to_pylist()
    runs = {r["run_id"]: r for r in _read(root, "runs").to_pylist()}
    tables = {}
    for test_set in sorted({m["test_set"] for m in metrics}):
        tables[test_set] = table3([m for m in metrics if m["test_set"] == test_set and m["run_id"] in runs], runs)
    notes = []
    if "proxy" in by_source:
        notes.append("Some labels come from the PROXY annotator (full-reference rules), not from people.")
    data = ReportData(f"hggt dataset report: {root}", counts, list(latest.values()), rejected, len(rejected),
                      proportions, agreement, example_sets, figures, tables, notes)
    uri = storage.join(root, "reports", "dataset.html")
    written = storage.atomic_write(uri, render(data).encode())
    return {"report": uri, "bytes": written.size, "sections": 7, "examples": len(example_sets), "maps": len(figures),
            "metric_tables": len(tables)}
