"""Prefect tasks of evaluation: SR outputs of a trained run on the fixed LR test inputs, scored
against every positive GT of each test set (SPEC section 8)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from prefect import task

from hggt.core import catalog, manifests, networks, storage
from hggt.core.archs import generator_from_payload
from hggt.core.config import HGGTConfig
from hggt.core.degradation import cpu
from hggt.core.degradation.settings import sample_record
from hggt.core.images import ImageRejected, decode_png, encode_png
from hggt.core.maps import indication_map
from hggt.core.metrics import DeepMetrics, artifact_rate, image_scores
from hggt.core.networks import GENERATOR
from hggt.core.seeding import item_rng
from hggt.core.splits import TEST, TRAIN
from hggt.core.evaluation import BICUBIC
from hggt.core.test_sets import SINGLE_GT, bicubic_upscale, gt_for_lq, mod_crop
from hggt.core.tiling import auto_batch, tiled_apply
from hggt.core.training.trainer import resolve_device
from hggt.tasks.caching import SHARD_CACHE
from hggt.tasks.code_closure import code_version_of
from hggt.tasks.degradations import LR_TEST
from hggt.core.eval_inputs import EvalInputs, dataset_inputs, external_inputs, test_set_name
from hggt.tasks.retries import RETRIES
from hggt.core.stage_runs import record_stage_run
from hggt.core.shard_engine import ItemOutput, PartResult, ShardWork, merge_parts, merge_rejected, prune_parts, run_shard, shard_items
from hggt.tasks.sharded import engine_hooks
from hggt.tasks.training_io import load_trained

STAGE = "evaluate"
CODE = code_version_of(__name__, *networks.modules(GENERATOR))
__all__ = ["plan_evaluate", "evaluate_shard", "merge_metrics", "run_row", "test_set_name"]


def run_row(root: str, run_id: str) -> dict:
    """A run of runs.parquet by id; 'latest' is the most recently trained one, 'latest:MODE' (e.g.
    latest:posneg) the most recent of that mode."""
    runs = {r["run_id"]: r for r in manifests.read(root, "runs").to_pylist()}
    if run_id == "latest" or run_id.startswith("latest:"):
        mode = run_id.partition(":")[2]
        chosen = [r for r in runs.values() if not mode or r["mode"] == mode]
        if chosen:
            return max(chosen, key=lambda r: r["created_at"])
    if run_id not in runs:
        raise ValueError(f"unknown run {run_id!r}; runs of this dataset: {', '.join(sorted(runs)) or 'none (train one with `hggt train-sr`)'}")
    return runs[run_id]


@task(name="plan-evaluate", persist_result=False)
def plan_evaluate(
    root: str, run_id: str, test_set: str | None, cfg: HGGTConfig, split: str = TEST, allow_train_sets: bool = False,
) -> tuple[list[ShardWork], EvalInputs, dict]:
    """The shards of one evaluation: the held-out side of the dataset's split (refused where the
    run may have trained on it, unless allowed), or an external folder."""
    run = run_row(root, run_id)
    run_id = run["run_id"]  # 'latest' resolved
    if test_set and split != TEST:
        raise ValueError(f"--split {split} picks a side of the dataset's own split; it does not apply to --test-set {test_set}")
    if split not in (TEST, TRAIN):
        raise ValueError(f"--split must be {TEST} or {TRAIN}, not {split!r}")
    inputs = external_inputs(root, test_set, cfg) if test_set else dataset_inputs(root, run, split, allow_train_sets)
    if not inputs.items:
        shown = "; ".join(f"{i}: {r}" for i, r in inputs.unscored[:5])
        raise ValueError(f"test set {inputs.name!r} has no image to score ({len(inputs.unscored)} skipped{': ' + shown if shown else ''})")
    for it in inputs.items:
        it["run"] = {"run_id": run_id, "uri": storage.resolve(root, run["checkpoint_uri"]), "sha256": run["sha256"]}
        it["test_set"] = inputs.name
    config_hash = cfg.section_hash("evaluate") + cfg.section_hash("degrade") + str(cfg.seed) + str(cfg.train_sr.scale)
    stage = f"{STAGE}/{run_id}/{inputs.name}"
    works = [ShardWork(stage, "metrics", root, key, config_hash, CODE, chunk) for key, chunk in shard_items(stage, inputs.items, cfg.evaluate.shard_size)]
    return works, inputs, run


@lru_cache(maxsize=4)
def _generator(url: str, sha256: str, device: str) -> torch.nn.Module:
    return generator_from_payload(load_trained(url, sha256, "hggt train-sr")).to(device)


@lru_cache(maxsize=2)
def _deep_metrics(device: str) -> DeepMetrics:
    return DeepMetrics.load(torch.device(device))


def _lr_input(item: dict, cfg: HGGTConfig) -> np.ndarray:
    if item["lr"]:
        return decode_png(storage.read_bytes(item["lr"]))
    # a Test-100 folder's LR is made here, as `hggt synthesize-lr` makes the dataset's (mod-cropped first)
    s = cfg.train_sr.scale
    hr = mod_crop(decode_png(storage.read_bytes(item["original"])), s)
    record = sample_record(cfg.degrade.table_2, item_rng(cfg.seed, LR_TEST, item["item_id"]))
    return cpu.degrade(hr, record, target=(hr.shape[0] // s, hr.shape[1] // s))


def _read_inputs(item: dict, cfg: HGGTConfig) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The LR input and each GT cropped to the output's size (scale x LR, BasicSR's rule)."""
    lr = _lr_input(item, cfg)
    return lr, {v: gt_for_lq(decode_png(storage.read_bytes(u)), lr.shape, cfg.train_sr.scale) for v, u in item["gts"].items()}


def _evaluate_item(item: dict, root: str, cfg: HGGTConfig) -> ItemOutput:
    ecfg = cfg.evaluate
    try:
        lr, gts = _read_inputs(item, cfg)
    except (ImageRejected, ValueError, FileNotFoundError) as exc:  # one bad image is reported; the others go on
        reason = f"skipped: {exc}" if not isinstance(exc, FileNotFoundError) else f"skipped: missing file {exc}"
        stage = f"{STAGE}/{item['run']['run_id']}/{item['test_set']}"
        return ItemOutput(rejected=[{"stage": stage, "item_id": item["item_id"], "uri": item["gts"].get(SINGLE_GT) or item["lr"], "reason": reason}])
    device = resolve_device(ecfg.device)
    model = _generator(item["run"]["uri"], item["run"]["sha256"], str(device))
    amp = torch.bfloat16 if device.type == "cuda" and ecfg.amp else None
    x = torch.tensor(lr).permute(2, 0, 1)[None].float() / 255.0
    y = tiled_apply(model, x, ecfg.tile, ecfg.overlap, auto_batch(device), scale=cfg.train_sr.scale, amp_dtype=amp,
                    channels_last=device.type == "cuda")
    sr = (y[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    uri = catalog.evaluation_sr(item["run"]["run_id"], item["test_set"], item["sr_name"])
    written = storage.atomic_write(storage.resolve(root, uri), encode_png(sr))
    out = ItemOutput(artifacts=[(uri, written.size, written.sha256)])
    deep = _deep_metrics(str(device))
    # The bicubic baseline of the same LR input, scored by the same code: rows of run_id 'bicubic',
    # the same for every run evaluated on this test set (each evaluation writes them again).
    bicubic = bicubic_upscale(lr, cfg.train_sr.scale)
    bicubic_uri = catalog.evaluation_sr(BICUBIC, item["test_set"], item["sr_name"])
    written = storage.atomic_write(storage.resolve(root, bicubic_uri), encode_png(bicubic))
    out.artifacts.append((bicubic_uri, written.size, written.sha256))
    for run_id, image, image_uri in ((item["run"]["run_id"], sr, uri), (BICUBIC, bicubic, bicubic_uri)):
        rate = _artifact_rate(image, item, cfg)
        for version, gt in gts.items():
            out.rows.append({
                "run_id": run_id, "test_set": item["test_set"], "set_id": item["item_id"], "gt_version": version,
                **image_scores(image, gt, ecfg.crop_border, deep), "artifact_rate": rate, "sr_uri": image_uri,
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
    return run_shard(work, lambda item: _evaluate_item(item, work.root, cfg), engine_hooks())


@task(name="merge-metrics", persist_result=False)
def merge_metrics(
    root: str, run_id: str, test_set: str, results: list[PartResult], unscored: list[tuple[str, str]], cfg: HGGTConfig,
    started_at: dt.datetime, cached: int,
) -> dict:
    """metrics.parquet keeps every run and test set; this run's rows on this test set are replaced,
    and so are the bicubic baseline's."""
    existing = manifests.read_or_empty(root, "metrics")
    if existing.num_rows:  # the bicubic baseline's rows too: this evaluation scored it on today's test images
        ours = pc.is_in(existing["run_id"], value_set=pa.array([run_id, BICUBIC]))
        existing = existing.filter(pc.invert(pc.and_(ours, pc.equal(existing["test_set"], test_set))))
    new = merge_parts(results, "metrics")
    manifests.write_if_changed(root, "metrics", manifests.merge("metrics", [existing, new]))
    stage = f"{STAGE}/{run_id}/{test_set}"
    rejected = [{"stage": stage, "item_id": s, "uri": None, "reason": r} for s, r in unscored]
    manifests.write_if_changed(root, "rejected", merge_rejected(root, stage, results, rejected))
    prune_parts(root, stage, results)
    # images refused inside the shards (undecodable, wrong GT/LQ size ratio) count as unscored too
    skipped = [(r["item_id"], r["reason"]) for p in results if p.rejected_uri for r in manifests.read_table(p.rejected_uri, "rejected").to_pylist()]
    reasons = unscored + skipped
    counts = {"items": new.column("run_id").to_pylist().count(run_id),  # the run's rows, not the bicubic baseline's
              "images": sum(r.items for r in results) - len(skipped), "unscored": len(reasons),
              "rejected": len(reasons), "shards": len(results), "shards_cached": cached, "computed": sum(r.computed for r in results)}
    counts["run_id"] = record_stage_run(root, STAGE, cfg, CODE, started_at, counts)
    counts["reasons"] = reasons
    return counts
