"""Prefect tasks of evaluation: SR outputs of a trained run on the fixed LR test inputs, scored
against every positive GT of each test set (SPEC section 8)."""

from __future__ import annotations

import datetime as dt
import posixpath
from collections import defaultdict
from functools import lru_cache

import numpy as np
import pyarrow.compute as pc
import torch
from prefect import task

from hggt_core import manifests, storage
from hggt_core.annotation.labels import aggregate
from hggt_core.annotation.pairs import gt_versions, map_pairs
from hggt_core.annotation.published import LabelFileError, image_path, label_path, parse_label_file
from hggt_core.archs import generator_from_payload
from hggt_core.config import HGGTConfig
from hggt_core.degradation import cpu
from hggt_core.degradation.settings import sample_record
from hggt_core.images import decode_png, encode_png
from hggt_core.maps import indication_map
from hggt_core.metrics import DeepMetrics, artifact_rate, psnr, ssim
from hggt_core.seeding import item_rng
from hggt_core.tiling import auto_batch, tiled_apply
from hggt_core.training.trainer import resolve_device
from tasks.caching import SHARD_CACHE, code_version, fingerprint
from tasks.retries import RETRIES
from tasks.runs import record_stage_run
from tasks.shards import ItemOutput, PartResult, ShardWork, merge_parts, merge_rejected, prune_parts, run_shard, shard_items
from tasks.training_io import load_trained

STAGE = "evaluate"
CODE = code_version("hggt_core.metrics", "hggt_core.tiling", "hggt_core.weights", "hggt_core.degradation.cpu", "hggt_core.maps")
LR_STAGE = "lr_test"  # the seed stream of `hggt synthesize-lr`, so external test sets get the same kind of LR


def run_row(root: str, run_id: str) -> dict:
    """A run of runs.parquet by id; 'latest' is the most recently trained one."""
    runs = {r["run_id"]: r for r in manifests.read(root, "runs").to_pylist()}
    if run_id == "latest" and runs:
        return max(runs.values(), key=lambda r: r["created_at"])
    if run_id not in runs:
        raise ValueError(f"unknown run {run_id!r}; runs of this dataset: {', '.join(sorted(runs)) or 'none (train one with `hggt train-sr`)'}")
    return runs[run_id]


def _item(set_id: str, files: dict[str, str], labels: list[dict], lr: dict | None) -> dict:
    """A test image: its LR input (or the original to make it from), its positive GTs, and the
    (positive, negative) pairs behind the artifact rate."""
    entry = gt_versions(labels).get(set_id, {"positive": [], "negative": []})
    pairs = map_pairs(entry)
    needed = {"original", *(v for v, _ in entry["positive"]), *(n for *_, n, _ in pairs)}
    return {"item_id": set_id, "lr": lr["uri"] if lr else None, "lr_sha256": lr["sha256"] if lr else None,
            "original": files.get("original"), "gts": {v: files[v] for v, _ in entry["positive"]},
            "pairs": [list(p) for p in pairs], "files": {f: files[f] for f in sorted(needed) if f in files}}


def _dataset_test_set(root: str) -> tuple[list[dict], list[tuple[str, str]]]:
    """Items from the dataset's own LR test inputs and labels; sets without a positive are listed."""
    lr = {r["patch_id"]: {"uri": storage.resolve(root, r["uri"]), "sha256": r["sha256"]} for r in manifests.read(root, "lr_test").to_pylist()}
    labels = manifests.read(root, "labels").to_pylist()
    positives = {r["set_id"] for r in labels if r["effective_label"] == "Positive"}
    files: dict[str, dict[str, str]] = defaultdict(dict)
    for r in manifests.read(root, "set_images").to_pylist():
        files[r["set_id"]][r["file"]] = storage.resolve(root, r["uri"])
    items, unscored = [], []
    for set_id in sorted({r["set_id"] for r in labels}):
        if set_id not in lr:
            unscored.append((set_id, "no LR test input: run `hggt synthesize-lr`"))
        elif set_id not in positives:
            unscored.append((set_id, "no positive version to score against"))
        else:
            items.append(_item(set_id, files[set_id], labels, lr[set_id]))
    return items, unscored


def _published_test_set(url: str, per_set: int) -> tuple[list[dict], list[tuple[str, str]]]:
    """Items from a Test-100-style folder: images/<range>/{original,01..04}/ and labels/<range>/{A,B,C}/."""
    files = storage.list_files(url, (".png", ".json"))
    sets: dict[str, dict[str, str]] = defaultdict(dict)
    votes, unscored = [], []
    for f in files:
        found = image_path(f.relpath)
        if found:
            sets[found[0]][found[1]] = f.url
    for f in files:
        where = label_path(f.relpath)
        if where is None or where.set_id not in sets:
            continue
        try:
            parsed = parse_label_file(storage.read_bytes(f.url), where.set_id)
        except LabelFileError as exc:
            unscored.append((f.relpath, f"label file skipped: {exc}"))
            continue
        votes += [{"set_id": where.set_id, "version": v, "annotator": where.annotator, "label": lab} for v, lab in parsed.labels.items()]
    labels, short = aggregate(votes, per_set)
    unscored += [(s, f"fewer than {per_set} annotators") for s in short]
    positives = {r["set_id"] for r in labels if r["effective_label"] == "Positive"}
    items = []
    for set_id in sorted({r["set_id"] for r in labels}):
        if "original" not in sets[set_id]:
            unscored.append((set_id, "no original image"))
        elif set_id not in positives:
            unscored.append((set_id, "no positive version to score against"))
        else:
            items.append(_item(set_id, sets[set_id], labels, None))
    return items, unscored


def test_set_name(test_set: str | None) -> str:
    if not test_set:
        return "dataset"
    base = posixpath.basename(test_set.rstrip("/")) or "test"
    return f"{base}-{fingerprint(test_set)[:8]}"


@task(name="plan-evaluate", persist_result=False)
def plan_evaluate(root: str, run_id: str, test_set: str | None, cfg: HGGTConfig) -> tuple[list[ShardWork], list[tuple[str, str]], dict]:
    run = run_row(root, run_id)
    run_id = run["run_id"]  # 'latest' resolved
    items, unscored = _published_test_set(test_set, cfg.annotation.per_set) if test_set else _dataset_test_set(root)
    if not items:
        raise ValueError(f"no test image has a positive GT to score against ({len(unscored)} sets unscored)")
    name = test_set_name(test_set)
    for it in items:
        it["run"] = {"run_id": run_id, "uri": storage.resolve(root, run["checkpoint_uri"]), "sha256": run["sha256"]}
        it["test_set"] = name
    config_hash = cfg.section_hash("evaluate") + cfg.section_hash("degrade") + str(cfg.seed)
    works = [ShardWork(f"{STAGE}/{run_id}/{name}", "metrics", root, key, config_hash, CODE, chunk)
             for key, chunk in shard_items(f"{STAGE}/{run_id}/{name}", items, cfg.evaluate.shard_size)]
    return works, unscored, run


@lru_cache(maxsize=4)
def _generator(url: str, sha256: str, device: str) -> torch.nn.Module:
    return generator_from_payload(load_trained(url, sha256, "hggt train-sr")).to(device)


@lru_cache(maxsize=2)
def _deep_metrics(device: str) -> DeepMetrics:
    return DeepMetrics.load(torch.device(device))


def _lr_input(item: dict, cfg: HGGTConfig) -> np.ndarray:
    if item["lr"]:
        return decode_png(storage.read_bytes(item["lr"]))
    hr = decode_png(storage.read_bytes(item["original"]))
    s = cfg.degrade.lr_scale
    record = sample_record(cfg.degrade.table_2, item_rng(cfg.seed, LR_STAGE, item["item_id"]))
    return cpu.degrade(hr, record, target=(hr.shape[0] // s, hr.shape[1] // s))


def _evaluate_item(item: dict, root: str, cfg: HGGTConfig) -> ItemOutput:
    ecfg = cfg.evaluate
    device = resolve_device(ecfg.device)
    model = _generator(item["run"]["uri"], item["run"]["sha256"], str(device))
    lr = _lr_input(item, cfg)
    amp = torch.bfloat16 if device.type == "cuda" and ecfg.amp else None
    x = torch.tensor(lr).permute(2, 0, 1)[None].float() / 255.0
    y = tiled_apply(model, x, ecfg.tile, ecfg.overlap, auto_batch(device), scale=4, amp_dtype=amp, channels_last=device.type == "cuda")
    sr = (y[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    uri = f"evaluations/{item['run']['run_id']}/{item['test_set']}/sr/{item['item_id']}.png"
    written = storage.atomic_write(storage.resolve(root, uri), encode_png(sr))
    out = ItemOutput(artifacts=[(uri, written.size, written.sha256)])
    deep = _deep_metrics(str(device))
    rate = _artifact_rate(sr, item, cfg)
    for version, gt_url in item["gts"].items():
        gt = decode_png(storage.read_bytes(gt_url))
        if gt.shape != sr.shape:
            h, w = min(gt.shape[0], sr.shape[0]), min(gt.shape[1], sr.shape[1])
            gt, srv = gt[:h, :w], sr[:h, :w]
        else:
            srv = sr
        to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255  # noqa: E731
        scores = deep(to_t(srv), to_t(gt))
        out.rows.append({
            "run_id": item["run"]["run_id"], "test_set": item["test_set"], "set_id": item["item_id"], "gt_version": version,
            "psnr": psnr(srv, gt, ecfg.crop_border), "ssim": ssim(srv, gt, ecfg.crop_border),
            "lpips": scores.get("lpips", [None])[0], "dists": scores.get("dists", [None])[0], "artifact_rate": rate, "sr_uri": uri,
        })
    return out


def _artifact_rate(sr: np.ndarray, item: dict, cfg: HGGTConfig) -> float | None:
    """Mean artifact rate over the set's (positive, negative) pairs; maps as in the maps stage."""
    if not item["pairs"]:
        return None
    imgs = {f: decode_png(storage.read_bytes(u)) for f, u in item["files"].items()}
    rates = []
    for p, n_pos, n, n_neg in item["pairs"]:
        pos = imgs["original"] if p == "original" else imgs[p]
        f = lambda a: a.astype(np.float32) / 255  # noqa: E731
        _, _, m_ind = indication_map(f(imgs["original"]), None if p == "original" else f(pos), f(imgs[n]), n_pos, n_neg, cfg.maps.ksize)
        h, w = min(sr.shape[0], m_ind.shape[0]), min(sr.shape[1], m_ind.shape[1])
        rate = artifact_rate(sr[:h, :w], pos[:h, :w], imgs[n][:h, :w], m_ind[:h, :w])
        if rate is not None:
            rates.append(rate)
    return float(np.mean(rates)) if rates else None


@task(name="evaluate-shard", tags=["gpu"], cache_policy=SHARD_CACHE, persist_result=True, **RETRIES)
def evaluate_shard(work: ShardWork, cfg: HGGTConfig) -> PartResult:
    return run_shard(work, lambda item: _evaluate_item(item, work.root, cfg))


@task(name="merge-metrics", persist_result=False)
def finalize_evaluate(
    root: str, run_id: str, test_set: str, results: list[PartResult], unscored: list[tuple[str, str]], cfg: HGGTConfig,
    started_at: dt.datetime, cached: int,
) -> dict:
    """metrics.parquet keeps every run and test set; this run's rows on this test set are replaced."""
    existing = manifests.read_or_empty(root, "metrics")
    if existing.num_rows:
        mine = pc.and_(pc.equal(existing["run_id"], run_id), pc.equal(existing["test_set"], test_set))
        existing = existing.filter(pc.invert(mine))
    new = merge_parts(results, "metrics")
    manifests.write_if_changed(root, "metrics", manifests.merge("metrics", [existing, new]))
    stage = f"{STAGE}/{run_id}/{test_set}"
    rejected = [{"stage": stage, "item_id": s, "uri": None, "reason": r} for s, r in unscored]
    manifests.write_if_changed(root, "rejected", merge_rejected(root, stage, results, rejected))
    prune_parts(root, stage, results)
    counts = {"items": new.num_rows, "images": sum(r.items for r in results), "unscored": len(unscored), "rejected": len(unscored),
              "shards": len(results), "shards_cached": cached, "computed": sum(r.computed for r in results)}
    counts["run_id"] = record_stage_run(root, STAGE, cfg, CODE, started_at, counts)
    counts["reasons"] = unscored
    return counts
