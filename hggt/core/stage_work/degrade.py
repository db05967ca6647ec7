"""One item of degradation synthesis: a patch's LQ versions for the enhancement settings (stage
degrade, Eq. 1 and supp. Table 1), or its fixed x4 LR test input (stage synthesize-lr, supp. Table 2)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from hggt.core import catalog, manifests, storage
from hggt.core.config import HGGTConfig
from hggt.core.degradation import cpu
from hggt.core.degradation.settings import sample_record
from hggt.core.images import ImageRejected, decode_png, encode_png
from hggt.core.seeding import item_rng
from hggt.core.shard_engine.contract import ShardedStage
from hggt.core.shard_engine.work import ItemOutput

# LR_TEST names synthesize-lr's seed stream, parts folder and shard keys: "lr_test" (after its manifest)
# since the first datasets; evaluation draws external test sets' LR from the same stream.
DEGRADE, LR_TEST = "degrade", "lr_test"


def _patch_items(input_root: str, only: set[str] | None = None) -> list[dict]:
    """Patches to degrade: the texture-passing ones, or those named in ``only``."""
    patches = manifests.read(input_root, "patches")
    chosen = patches.filter(pc.equal(patches["texture_ok"], True)) if only is None else patches.filter(pc.is_in(patches["patch_id"], pa.array(sorted(only))))
    return [{"item_id": r["patch_id"], "uri": storage.resolve(input_root, r["uri"]), "sha256": r["sha256"]}
            for r in chosen.select(["patch_id", "uri", "sha256"]).to_pylist()]


def _degrade_items(root: str, cfg: HGGTConfig, source: str | None) -> list[dict]:
    return _patch_items(storage.normalize_root(source or root))


def _lr_items(root: str, cfg: HGGTConfig, source: str | None) -> list[dict]:
    """LR test inputs for the annotation sets once they are chosen, else for every textured patch."""
    source = storage.normalize_root(source or root)
    sets = manifests.read_or_empty(source, "sets")
    return _patch_items(source, set(sets.column("patch_id").to_pylist()) if sets.num_rows else None)


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


def _shard_size(cfg: HGGTConfig) -> int:
    return cfg.degrade.shard_size


DEGRADATION = ShardedStage("degrade", DEGRADE, "degradations", ("degrade",), _shard_size, _degrade_items, _degrade_item,
                           lambda cfg: tuple(catalog.lq_dir(s) for s in cfg.degrade.settings))
LR_SYNTHESIS = ShardedStage("synthesize-lr", LR_TEST, "lr_test", ("degrade",), _shard_size, _lr_items, _lr_item,
                            lambda cfg: (catalog.lr_test_dir(cfg.degrade.lr_scale),))
