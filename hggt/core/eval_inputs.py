"""Where evaluation's test images come from: the held-out side of the dataset's split, or a folder
outside the dataset in one of the layouts of hggt.core.test_sets. Each reader returns items (one
test image: its LR input or how to make it, its GT references, its output name) and the
(item, reason) pairs it could not score."""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass, field

from hggt.core import catalog, manifests, storage
from hggt.core.annotation.labels import aggregate
from hggt.core.annotation.pairs import gt_versions, map_pairs
from hggt.core.annotation.published import LabelFileError, image_path, label_path, parse_label_file
from hggt.core.config import HGGTConfig
from hggt.core.degradation import cpu
from hggt.core.degradation.settings import sample_record
from hggt.core.evaluation import ALLOW_FLAG, DATASET, dataset_test_set_name, on_train_sets, train_sets_problem
from hggt.core.images import ImageRejected, decode_png, encode_png
from hggt.core.seeding import item_rng
from hggt.core.splits import split_fingerprint
from hggt.core.test_sets import GT_DIR, GT_ONLY, LQ_DIR, PAIRED, SINGLE_GT, paired_part, detect_layout, item_id, mod_crop, pair_names
from hggt.core.stage_work.degrade import LR_TEST  # the same LR draws as `hggt synthesize-lr`



@dataclass
class EvalInputs:
    name: str
    items: list[dict]
    unscored: list[tuple[str, str]] = field(default_factory=list)
    layout: str = "dataset"
    train_sets_reason: str | None = None  # set when --allow-train-sets let the run onto sets it trained on


class TrainSetsRefused(ValueError):
    """Evaluating the run here would score it on sets it trained on."""


def test_set_name(test_set: str | None) -> str:
    """An external test set is named by its folder (a name alone, as `hggt compare` takes it, is
    itself)."""
    if not test_set:
        return DATASET
    return posixpath.basename(test_set.rstrip("/")) or "test"


test_set_name.__test__ = False  # not a pytest test when imported into a test module


def _item(set_id: str, files: dict[str, str], labels: list[dict], lr: dict | None) -> dict:
    """A labelled test image: its LR input (or the original to make it from), its positive GTs,
    and the (positive, negative) pairs behind the artifact rate."""
    entry = gt_versions(labels).get(set_id, {"positive": [], "negative": []})
    pairs = map_pairs(entry)
    needed = {"original", *(v for v, _ in entry["positive"]), *(n for *_, n, _ in pairs)}
    return {"item_id": set_id, "sr_name": f"{set_id}.png", "lr": lr["uri"] if lr else None, "lr_key": lr["sha256"] if lr else None,
            "original": files.get("original"), "gts": {v: files[v] for v, _ in entry["positive"]},
            "pairs": [list(p) for p in pairs], "files": {f: files[f] for f in sorted(needed) if f in files}}


def _external_item(name: str, gt_url: str, gt_key: str, lr_url: str, lr_key: str) -> dict:
    """An image of a paired or GT-only folder: one reference, no labels, output named as its GT."""
    return {"item_id": item_id(name), "sr_name": name, "lr": lr_url, "lr_key": lr_key, "original": None,
            "gts": {SINGLE_GT: gt_url}, "gt_key": gt_key, "pairs": [], "files": {}}


def dataset_inputs(root: str, run: dict, side: str, allow_train_sets: bool) -> EvalInputs:
    """Items from one side of manifests/splits.parquet (the test side unless asked otherwise),
    refused when the run may have trained on them unless ``allow_train_sets``."""
    if not storage.exists(manifests.manifest_url(root, "splits")):
        raise ValueError("this dataset has no held-out split (manifests/splits.parquet is missing): run `hggt split` "
                         "(part of `hggt build-dataset`), then retrain with `hggt train-sr` so the run trains on the train side only")
    split_rows = manifests.read(root, "splits").to_pylist()
    problem = train_sets_problem(run["run_id"], run.get("split_fingerprint"), split_fingerprint(split_rows), side)
    if problem and not allow_train_sets:
        raise TrainSetsRefused(f"refusing to evaluate on sets the run trained on: {problem}. To score it there anyway for "
                               f"debugging, pass {ALLOW_FLAG}; its results are then marked as on training sets.")
    chosen = {r["set_id"] for r in split_rows if r["split"] == side}
    lr = {r["patch_id"]: {"uri": storage.resolve(root, r["uri"]), "sha256": r["sha256"]} for r in manifests.read(root, "lr_test").to_pylist()}
    labels = manifests.read(root, "labels").to_pylist()
    positives = {r["set_id"] for r in labels if r["effective_label"] == "Positive"}
    files: dict[str, dict[str, str]] = defaultdict(dict)
    for r in manifests.read(root, "set_images").to_pylist():
        files[r["set_id"]][r["file"]] = storage.resolve(root, r["uri"])
    items, unscored = [], []
    for set_id in sorted(chosen & {r["set_id"] for r in labels}):
        if set_id not in lr:
            unscored.append((set_id, "no LR test input: run `hggt synthesize-lr`"))
        elif set_id not in positives:
            unscored.append((set_id, "no positive version to score against"))
        else:
            items.append(_item(set_id, files[set_id], labels, lr[set_id]))
    return EvalInputs(dataset_test_set_name(side, problem is not None), items, unscored, train_sets_reason=problem)


def external_inputs(root: str, url: str, cfg: HGGTConfig) -> EvalInputs:
    """Items of a folder in any of the three layouts; a folder that matches none is an error
    naming it."""
    name = test_set_name(url)
    if name == DATASET or on_train_sets(name):
        raise ValueError(f"test set folder {url!r}: the name {name!r} is reserved for the dataset's own split; rename the folder")
    files = storage.list_files(url, (".png", ".json"))
    layout = detect_layout(url, [f.relpath for f in files])
    if layout == PAIRED:
        items, unscored = _paired(files)
    elif layout == GT_ONLY:
        items, unscored = _gt_only(root, name, [f for f in files if "/" not in f.relpath and f.relpath.lower().endswith(".png")], cfg)
    else:
        items, unscored = _published(files, cfg.annotation.per_set)
    return EvalInputs(name, items, unscored, layout)


def _paired(files: list[storage.ListedFile]) -> tuple[list[dict], list[tuple[str, str]]]:
    sides: dict[str, dict[str, storage.ListedFile]] = {GT_DIR: {}, LQ_DIR: {}}
    for f in files:
        if found := paired_part(f.relpath):
            sides[found[0]][found[1]] = f
    names, unscored = pair_names(sides[GT_DIR], sides[LQ_DIR])
    gt, lq = sides[GT_DIR], sides[LQ_DIR]
    return [_external_item(n, gt[n].url, gt[n].ukey, lq[n].url, lq[n].ukey) for n in names], unscored


def _lq_dir(name: str) -> str:
    return catalog.evaluation_lq_dir(name)


def _gt_only(root: str, name: str, files: list[storage.ListedFile], cfg: HGGTConfig) -> tuple[list[dict], list[tuple[str, str]]]:
    """LQ inputs of a GT-only folder, made once: Table 2 with a seed per image on the GT cropped
    to a multiple of the scale, written under evaluations/<test set>/lq/ with their degradation
    records (lr_test.parquet there, the schema of the dataset's own). A recorded LQ is reused while
    its GT's content is unchanged and its file intact."""
    scale = cfg.train_sr.scale
    record_url = storage.join(root, catalog.evaluation_lq_record(name))
    known = {r["patch_id"]: r for r in manifests.read_table(record_url, "lr_test").to_pylist()} if storage.exists(record_url) else {}
    rows, items, unscored = [], [], []
    for f in files:
        stem, data = item_id(f.relpath), storage.read_bytes(f.url)
        sample_id = f"{stem}_x{scale}_{storage.sha256_bytes(data)[:12]}"  # a changed GT is a new sample
        row = known.get(stem)
        if row is None or row["sample_id"] != sample_id or not _intact(root, row):
            try:
                row = _make_lq(root, name, stem, sample_id, decode_png(data), scale, cfg)
            except (ImageRejected, ValueError) as exc:
                unscored.append((f.relpath, f"skipped: {exc}"))
                continue
        rows.append(row)
        items.append(_external_item(f.relpath, f.url, f.ukey, storage.resolve(root, row["uri"]), row["sha256"]))
    data = manifests.table_bytes("lr_test", manifests.to_table("lr_test", rows))
    if not storage.exists(record_url) or storage.read_bytes(record_url) != data:
        storage.atomic_write(record_url, data)
    return items, unscored


def _intact(root: str, row: dict) -> bool:
    try:
        return storage.sha256_bytes(storage.read_bytes(storage.resolve(root, row["uri"]))) == row["sha256"]
    except FileNotFoundError:
        return False


def _make_lq(root: str, name: str, stem: str, sample_id: str, gt, scale: int, cfg: HGGTConfig) -> dict:
    gt = mod_crop(gt, scale)
    if gt.shape[0] < scale or gt.shape[1] < scale:
        raise ValueError(f"smaller than the scale {scale}")
    record = sample_record(cfg.degrade.table_2, item_rng(cfg.seed, LR_TEST, stem))
    lq = cpu.degrade(gt, record, target=(gt.shape[0] // scale, gt.shape[1] // scale))
    uri = f"{_lq_dir(name)}/x{scale}/{stem}.png"
    written = storage.atomic_write(storage.resolve(root, uri), encode_png(lq))
    return {"sample_id": sample_id, "patch_id": stem, "setting": "table2", "scale": scale, **record.as_row(),
            "uri": uri, "sha256": written.sha256, "bytes": written.size}


def _published(files: list[storage.ListedFile], per_set: int) -> tuple[list[dict], list[tuple[str, str]]]:
    """Items from a Test-100-style folder: images/<range>/{original,01..04}/ and labels/<range>/{A,B,C}/."""
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

