"""Prefect tasks of degradation synthesis: LQ versions of the texture-passing patches for the
enhancement settings (`degrade`), and the fixed x4 LR test inputs (`synthesize-lr`)."""

from __future__ import annotations


import pyarrow as pa
import pyarrow.compute as pc
from prefect import task

from hggt_core import catalog, manifests, storage
from hggt_core.config import HGGTConfig
from hggt_core.degradation import cpu
from hggt_core.degradation.settings import sample_record
from hggt_core.images import ImageRejected, decode_png, encode_png
from hggt_core.seeding import item_rng
from tasks.code_closure import code_version_of
from hggt_core.shard_engine import ItemOutput, ShardWork, shard_items
from tasks.sharded import shard_tasks

CODE = code_version_of(__name__)
# LR_TEST names synthesize-lr's seed stream, parts folder and shard keys: "lr_test" (after its manifest)
# since the first datasets; evaluation draws external test sets' LR from the same stream.
DEGRADE, LR_TEST = "degrade", "lr_test"


def _patch_items(input_root: str, only: set[str] | None = None) -> list[dict]:
    """Patches to degrade: the texture-passing ones, or those named in ``only``."""
    patches = manifests.read(input_root, "patches")
    chosen = patches.filter(pc.equal(patches["texture_ok"], True)) if only is None else patches.filter(pc.is_in(patches["patch_id"], pa.array(sorted(only))))
    return [{"item_id": r["patch_id"], "uri": storage.resolve(input_root, r["uri"]), "sha256": r["sha256"]}
            for r in chosen.select(["patch_id", "uri", "sha256"]).to_pylist()]


def _plan(stage: str, manifest: str, input_url: str, root: str, cfg: HGGTConfig, only: set[str] | None = None) -> list[ShardWork]:
    items = _patch_items(storage.normalize_root(input_url), only)
    config_hash = cfg.section_hash("degrade")
    return [ShardWork(stage, manifest, root, key, config_hash, CODE, chunk) for key, chunk in shard_items(stage, items, cfg.degrade.shard_size)]


@task(name="plan-degrade", persist_result=False)
def plan_degrade(input_url: str, root: str, cfg: HGGTConfig) -> list[ShardWork]:
    return _plan(DEGRADE, "degradations", input_url, root, cfg)


@task(name="plan-synthesize-lr", persist_result=False)
def plan_lr(input_url: str, root: str, cfg: HGGTConfig) -> list[ShardWork]:
    """LR test inputs for the annotation sets once they are chosen, else for every textured patch."""
    sets = manifests.read_or_empty(storage.normalize_root(input_url), "sets")
    only = set(sets.column("patch_id").to_pylist()) if sets.num_rows else None
    return _plan(LR_TEST, "lr_test", input_url, root, cfg, only)


def _read_patch(item: dict, stage: str) -> tuple[object, ItemOutput | None]:
    def reject(reason: str) -> ItemOutput:
        return ItemOutput(rejected=[{"stage": stage, "item_id": item["item_id"], "uri": item["uri"], "reason": reason}])

    try:
        data = storage.read_bytes(item["uri"])
    except FileNotFoundError:
        return None, reject("missing: the patch file was deleted after `hggt patches`; re-run it")
    if storage.sha256_bytes(data) != item["sha256"]:
        return None, reject("changed since `hggt patches` (sha256 differs); re-run it")
    try:
        return decode_png(data), None
    except ImageRejected as exc:
        return None, reject(str(exc))


def _write_sample(root: str, uri: str, lq, extra: dict, record, out: ItemOutput) -> None:
    written = storage.atomic_write(storage.resolve(root, uri), encode_png(lq))
    out.rows.append({**extra, **record.as_row(), "uri": uri, "sha256": written.sha256, "bytes": written.size})
    out.artifacts.append((uri, written.size, written.sha256))


def _degrade_item(item: dict, root: str, cfg: HGGTConfig) -> ItemOutput:
    hr, failed = _read_patch(item, DEGRADE)
    if failed:
        return failed
    out = ItemOutput()
    patch_id = item["item_id"]
    for setting in cfg.degrade.settings:
        for k in range(cfg.degrade.samples_per_patch):
            sample_id = f"{patch_id}_s{setting}_{k}"
            record = sample_record(cfg.degrade.named(setting), item_rng(cfg.seed, DEGRADE, sample_id))
            extra = {"sample_id": sample_id, "patch_id": patch_id, "setting": setting}
            _write_sample(root, catalog.lq(setting, sample_id), cpu.degrade(hr, record), extra, record, out)
    return out


def _lr_item(item: dict, root: str, cfg: HGGTConfig) -> ItemOutput:
    hr, failed = _read_patch(item, LR_TEST)
    if failed:
        return failed
    out = ItemOutput()
    scale = cfg.degrade.lr_scale
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        return ItemOutput(rejected=[{"stage": LR_TEST, "item_id": item["item_id"], "uri": item["uri"],
                                     "reason": f"patch size {w}x{h} is not divisible by the LR scale {scale}"}])
    patch_id = item["item_id"]
    sample_id = f"{patch_id}_x{scale}"
    record = sample_record(cfg.degrade.table_2, item_rng(cfg.seed, LR_TEST, patch_id))
    lq = cpu.degrade(hr, record, target=(h // scale, w // scale))
    extra = {"sample_id": sample_id, "patch_id": patch_id, "setting": "table2", "scale": scale}
    _write_sample(root, catalog.lr_test(scale, patch_id), lq, extra, record, out)
    return out


degrade_shard, merge_degradations = shard_tasks(DEGRADE, "degradations", CODE, _degrade_item, ("degrade-shard", "merge-degradations"),
                                                lambda cfg: tuple(catalog.lq_dir(s) for s in cfg.degrade.settings))
lr_shard, merge_lr_test = shard_tasks(LR_TEST, "lr_test", CODE, _lr_item, ("synthesize-lr-shard", "merge-lr-test"),
                                      lambda cfg: (catalog.lr_test_dir(cfg.degrade.lr_scale),))
