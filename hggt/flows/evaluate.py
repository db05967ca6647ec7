"""Flows `evaluate` and `compare`: score trained runs on the held-out test sets or an external test
folder (paper Sec. 5, supplement Table 3) and put their outputs side by side."""

from __future__ import annotations

import base64
import datetime as dt
import time

import cv2
import numpy as np
import pyarrow.compute as pc
from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from hggt.flows.publish import publish_examples, publish_summary
from hggt.flows.runners import plain_runner, thread_runner
from hggt.flows.sharding import run_shards
from hggt.flows.stage import Stage, run_name
from hggt.core import catalog, manifests, storage
from hggt.core.evaluation import TRAIN_SETS_NOTE, on_train_sets, table3, to_csv, to_markdown
from hggt.core.figures import sample_grid
from hggt.core.images import decode_png, encode_png
from hggt.core.metrics import unavailable
from hggt.core.test_sets import bicubic_upscale
from hggt.tasks.evaluate import evaluate_shard, merge_metrics, plan_evaluate, test_set_name
from hggt.tasks.progress import artifact_key


def write_table3(root: str, test_set: str, reason: str | None = None) -> list[dict]:
    """reports/table3-<test set>.md and .csv over every run evaluated on this test set; a test set
    that may hold the runs' training sets says so in every row, the title and a note."""
    metrics = manifests.read(root, "metrics")
    rows = metrics.filter(pc.equal(metrics["test_set"], test_set)).to_pylist()
    runs = {r["run_id"]: r for r in manifests.read(root, "runs").to_pylist()}
    table = table3(rows, runs)  # the runs' rows and the bicubic baseline's
    notes = [f"{m.upper()} skipped: {why}" for m, why in unavailable().items()]
    title = f"Table 3 on test set '{test_set}'"
    if on_train_sets(test_set):
        table = [{**r, "on training sets": "yes"} for r in table]
        title += " (NOT HELD OUT: on training sets)"
        notes = [TRAIN_SETS_NOTE] + ([f"Latest reason: {reason}."] if reason else []) + notes
    storage.atomic_write(storage.resolve(root, catalog.table3(test_set, "md")), to_markdown(table, title, notes).encode())
    storage.atomic_write(storage.resolve(root, catalog.table3(test_set, "csv")), to_csv(table).encode())
    create_table_artifact(key=artifact_key(f"table3-{test_set}", root), table=table, description=f"{title} ({root})")
    return table


@flow(name="evaluate", flow_run_name=run_name, task_runner=thread_runner(), log_prints=True)
def evaluate_flow(
    out: str, run_id: str, test_set: str | None = None, preset: str | None = None, overrides: list[str] | None = None,
    config_file: str | None = None, split: str = "test", allow_train_sets: bool = False,
) -> dict:
    """Run `run_id` (tiled) on the held-out test side of the dataset's split (or on `test_set`, an
    external folder), score each SR output against every positive GT of its set (PSNR, SSIM, LPIPS,
    DISTS), and write metrics.parquet and the Table 3 summary. Sets the run may have trained on are
    refused unless `allow_train_sets` (debugging; the results are then marked in every table)."""
    started, started_at = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    root, cfg = Stage.open(out, preset, overrides, config_file)
    works, inputs, run = plan_evaluate(root, run_id, test_set, cfg, split, allow_train_sets)
    run_id, name = run["run_id"], inputs.name
    results, cached = run_shards(evaluate_shard, works, "evaluate", cfg=cfg)
    summary = merge_metrics(root, run_id, name, results, inputs.unscored, cfg, started_at, cached)
    table = write_table3(root, name, inputs.train_sets_reason)
    scored = [r for r in manifests.read(root, "metrics").to_pylist() if r["run_id"] == run_id and r["test_set"] == name]
    if not scored:
        shown = "; ".join(f"{i}: {r}" for i, r in summary["reasons"][:5])
        raise ValueError(f"no image of test set {name!r} could be scored (see manifests/rejected.parquet): {shown}")
    publish_examples("evaluate", root, [(f"{r['set_id']} SR (PSNR {r['psnr']:.2f} vs {r['gt_version']})", r["sr_uri"]) for r in scored[:4]])
    mine = next(r for r in table if r["run"] == run_id)
    summary.update({k: mine[k] for k in ("model", "training GT", "PSNR", "SSIM", "LPIPS", "DISTS")}, test_set=name, layout=inputs.layout)
    summary["on_training_sets"] = inputs.train_sets_reason
    summary["skipped_metrics"] = sorted(unavailable())
    summary["table"] = table
    return publish_summary("evaluate", root, summary, started)


@flow(name="compare", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def compare_flow(out: str, runs: list[str], images: int = 4, test_set: str | None = None) -> dict:
    """Side-by-side grids (bicubic, each run's SR, the positive GTs) for the first `images` test
    images that every run has been evaluated on."""
    root = storage.normalize_root(out)
    name = test_set_name(test_set)
    metrics = manifests.read(root, "metrics")
    metrics = metrics.filter(pc.equal(metrics["test_set"], name)).to_pylist()
    by_run: dict[str, dict[str, dict]] = {r: {} for r in runs}
    gts: dict[str, set[str]] = {}
    for m in metrics:
        if m["run_id"] in by_run:
            by_run[m["run_id"]][m["set_id"]] = m
            gts.setdefault(m["set_id"], set()).add(m["gt_version"])
    missing = [r for r, rows in by_run.items() if not rows]
    if missing:
        raise ValueError(f"runs {missing} have no evaluation on test set {name}: run `hggt evaluate --run ...` first")
    common = sorted(set.intersection(*(set(rows) for rows in by_run.values())))[:images]
    lr_rows = {r["patch_id"]: r for r in manifests.read_or_empty(root, "lr_test").to_pylist()}
    set_images = {(r["set_id"], r["file"]): r["uri"] for r in manifests.read_or_empty(root, "set_images").to_pylist()}
    written, pictures = [], []
    for set_id in common:
        srs = [decode_png(storage.read_bytes(storage.resolve(root, by_run[r][set_id]["sr_uri"]))) for r in runs]
        h, w = srs[0].shape[:2]
        panels, titles = [], []
        if set_id in lr_rows:
            lr = decode_png(storage.read_bytes(storage.resolve(root, lr_rows[set_id]["uri"])))
            panels.append(bicubic_upscale(lr, h // lr.shape[0])[:h, :w])  # the bicubic baseline's picture
            titles.append("bicubic")
        panels += srs
        titles += list(runs)
        for v in sorted(gts[set_id]):
            if (set_id, v) in set_images:
                panels.append(decode_png(storage.read_bytes(storage.resolve(root, set_images[(set_id, v)])))[:h, :w])
                titles.append(f"positive {v}")
        grid = sample_grid([panels], titles, size=min(256, h))
        uri = catalog.comparison(name, runs, set_id)
        png = encode_png(grid)
        storage.atomic_write(storage.resolve(root, uri), png)
        written.append(uri)
        small = cv2.resize(grid, (grid.shape[1] // 2, grid.shape[0] // 2), interpolation=cv2.INTER_AREA)
        pictures.append(f"![{set_id}](data:image/png;base64,{base64.b64encode(encode_png(np.ascontiguousarray(small))).decode()})")
    create_markdown_artifact(key=artifact_key("compare", root), description=f"hggt compare: {' vs '.join(runs)} on {name} ({root})", markdown=f"# {' vs '.join(runs)} on {name}\n\n" + "\n\n".join(pictures))
    return {"images": len(written), "files": written}
