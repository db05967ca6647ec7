"""The sets each Real-ISR mode trains on: the authors' three dataset classes, run on a published-
layout export written by hggt, against ``hggt.core.dataset`` and ``HGGTTrainSet``.

The fixture: 14 labelled sets (12 train, 2 test) of 32 x 32 images, each voted on by three
annotators with votes chosen to cover the rules' corners (unanimous, two against one, three
different labels, Similar majorities, sets with only a negative or only a positive, unusable
sets), exported by hggt's layout code (``place_sets``, ``label_file_from_votes``) into
``Train/images/0-12`` and ``Train/labels/0-12``. Their classes read it with the dataset options
of their configs. Measured: Ori 12 sets, Pos 6, Pos+Neg 9 on both sides, every effective label and
count equal.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from hggt.core import manifests
from hggt.core.annotation.export_layout import place_sets
from hggt.core.annotation.labels import VERSIONS, aggregate
from hggt.core.annotation.published import label_file_from_votes
from hggt.core.dataset import open_dataset
from hggt.core.images import encode_png
from hggt.core.splits import TEST, TRAIN
from hggt.core.torchdata import HGGTTrainSet

ANNOTATORS = ("amy", "bob", "kim")
P, S, N = "Positive", "Similar", "Negative"
# Per set, per version 01..04: the three annotators' votes.
VOTES = [
    ["PPP", "PPN", "NNS", "SSS"],  # two positives (3 and 2 votes), a negative
    ["SSS", "SSS", "SSS", "SSS"],  # unusable
    ["PNS", "SSN", "SSP", "SSS"],  # all Similar (three different labels count as Similar): unusable
    ["NNN", "NNP", "SSS", "PSN"],  # negatives only: Pos+Neg trains on it with the original as GT, Pos does not
    ["PPS", "SSS", "SSS", "SSS"],  # one positive
    ["PNN", "PPN", "NPS", "PPP"],
    ["PNS", "NPS", "SPN", "SNP"],  # unusable
    ["SSP", "SNN", "SSS", "SSS"],  # one negative
    ["PPN", "NNP", "PPP", "NNN"],
    ["SPS", "NSN", "PSP", "SSN"],
    ["SSS", "SSP", "SNS", "PPN"],  # one positive among Similar majorities
    ["NNS", "NSN", "SNN", "NNN"],  # negatives only
    ["PPP", "PPS", "SSS", "SSS"],  # test side
    ["PPS", "PPN", "NNN", "SSS"],  # test side
]
CODE = {"P": P, "S": S, "N": N}
CONFIGS = {"ori": "Ori", "pos": "Pos", "posneg": "Pos+Neg"}
CLASSES = {
    "ori": ("basicsr.data.posneggtori_dataset", "PosNegGTOriDataset"),
    "pos": ("basicsr.data.posneggtpos_dataset", "PosNegGTPosDataset"),
    "posneg": ("basicsr.data.posneggtposneg_dataset", "PosNegGTPosNeg_Dataset"),
}


def _set_id(k: int) -> str:
    return f"photo{k:02d}-0-0"  # one photo per set: the split below is free to place each


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(hggt dataset root, their Train/images/<range>, their Train/labels/<range>)."""
    root, dest = tmp_path_factory.mktemp("ds"), tmp_path_factory.mktemp("HGGT")
    votes = [{"set_id": _set_id(k), "version": v, "annotator": a, "label": CODE[triple[i]], "started_at": None, "ended_at": None,
              "seconds": 12.0}
             for k, per_version in enumerate(VOTES) for v, triple in zip(VERSIONS, per_version) for i, a in enumerate(ANNOTATORS)]
    labels, short = aggregate(votes, 3, VERSIONS)
    assert not short
    split = {_set_id(k): TEST if k >= 12 else TRAIN for k in range(len(VOTES))}
    placed = place_sets(split, {s: ANNOTATORS for s in split})
    rng = np.random.default_rng(0)
    images = []
    for p in placed:
        for f in ("original", *VERSIONS):
            path = dest / p.image_relpath(f)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode_png(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
            images.append({"set_id": p.set_id, "file": f, "uri": str(path)})
        for letter, annotator in p.annotators.items():
            path = dest / p.label_relpath(letter)
            path.parent.mkdir(parents=True, exist_ok=True)
            mine = [v for v in votes if v["set_id"] == p.set_id and v["annotator"] == annotator]
            path.write_bytes(label_file_from_votes(p.set_id, mine))
    positives = {s: sum(r["effective_label"] == P for r in labels if r["set_id"] == s) for s in split}
    usable = {r["set_id"]: r["usable"] for r in labels}
    tables = {
        "sets": [{"set_id": s, "patch_id": s, "rank": k, "max_diff": None} for k, s in enumerate(split)],
        "set_images": images,
        "labels": [{**r, "source": "human"} for r in labels],
        "splits": [{"set_id": s, "image_id": s.rsplit("-", 2)[0], "split": side, "positives": positives[s], "usable": usable[s]}
                   for s, side in split.items()],
    }
    for name, rows in tables.items():
        manifests.write(str(root), name, manifests.to_table(name, rows))
    train_range = next(p.range for p in placed if p.split == TRAIN)
    assert train_range == "0-12"
    return str(root), dest / "Train" / "images" / train_range, dest / "Train" / "labels" / train_range


def _theirs(ref, mode: str, exported):
    _, images, labels = exported
    path = ref.path("options", "train", "PosNegGTSR", f"train_RRDBGAN_PosNegGT_Blind_{CONFIGS[mode]}_x4.yml")
    opt = yaml.safe_load(path.read_text())["datasets"]["train"]
    assert opt["type"] == CLASSES[mode][1]
    opt.update(dataroot_all_gt=str(images), dataroot_all_json=str(labels))
    module, name = CLASSES[mode]
    return getattr(ref.module(module), name)(opt)


def _their_versions(item: dict) -> tuple[list, list]:
    """(positives, negatives) of one of their items, as [(version, votes)] (votes None without counts)."""
    labels = list(item["label_list"])
    counts = list(item["label_num_list"]) if "label_num_list" in item else [None] * len(labels)
    pick = lambda code: [(VERSIONS[k - 1], None if counts[k] is None else int(counts[k]))  # noqa: E731
                         for k in range(1, len(labels)) if labels[k] == code]
    return pick(1), pick(3)


@pytest.mark.parametrize("mode", ["ori", "pos", "posneg"])
def test_their_dataset_classes_choose_our_sets(ref, exported, mode):
    root = exported[0]
    theirs = _theirs(ref, mode, exported)
    ours, _ = open_dataset(root).training_sets(mode)
    assert sorted(theirs.effective_img) == [e["set_id"] for e in ours] == [s["set_id"] for s in HGGTTrainSet(root, mode).sets]
    assert len(ours) == {"ori": 12, "pos": 6, "posneg": 9}[mode]
    if mode == "ori":
        return
    by_id = {e["set_id"]: e for e in ours}
    for index, set_id in enumerate(theirs.effective_img):
        positives, negatives = _their_versions(theirs[index])
        entry = by_id[set_id]
        if mode == "pos":  # their Pos items carry labels only; its model draws P* among them, never the original
            assert positives == [(v, None) for v, _ in entry["positive"]] and positives
        else:
            assert (positives, negatives) == (entry["positive"], entry["negative"])


def test_their_effective_labels_and_counts_are_ours_for_every_set(ref, exported):
    root = exported[0]
    theirs = _theirs(ref, "posneg", exported)
    theirs.effective_json = sorted(p.name for p in (exported[2] / "A").iterdir())  # every set, the unusable ones too
    theirs.effective_img = [name.removesuffix(".json") for name in theirs.effective_json]
    rows = {(r["set_id"], r["version"]): r for r in open_dataset(root).rows("labels")}
    names = {1: P, 2: S, 3: N}
    seen = set()
    for index, set_id in enumerate(theirs.effective_img):
        item = theirs[index]
        for k, version in enumerate(VERSIONS, start=1):
            row = rows[(set_id, version)]
            got = (names[int(item["label_list"][k])], int(item["label_num_list"][k]))
            assert got == (row["effective_label"], row["vote_count"]), (set_id, version)
            seen.add(got)
    assert len(theirs) == 12 and {(S, 1), (S, 2), (S, 3), (P, 2), (P, 3), (N, 2), (N, 3)} <= seen


def _drawn_gts(ds: HGGTTrainSet, epochs: int = 3) -> set[tuple[str, str]]:
    out = set()
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        out |= {(ds[i]["set_id"], ds[i]["gt_version"]) for i in range(len(ds))}
    return out


def test_pos_trains_towards_a_positive_and_posneg_falls_back_to_the_original(exported):
    root = exported[0]
    pos, posneg = HGGTTrainSet(root, "pos", gt_size=16, seed=1), HGGTTrainSet(root, "posneg", gt_size=16, seed=1)
    assert all(e["positive"] for e in pos.sets) and all(v != "original" for _, v in _drawn_gts(pos))
    without = {e["set_id"] for e in posneg.sets if not e["positive"]}
    assert len(without) == 3 and {v for s, v in _drawn_gts(posneg) if s in without} == {"original"}


def test_train_sr_stream_visits_every_set_once_per_epoch(exported):
    ds = HGGTTrainSet(exported[0], "pos", gt_size=16)
    stream = ds.stream(seed=4)  # train-sr's default sampling: shuffled epochs
    epochs = [[s["set_id"] for _ in range(2) for s in stream.next(3)] for _ in range(3)]
    assert all(sorted(e) == sorted(x["set_id"] for x in ds.sets) for e in epochs) and epochs[0] != epochs[1]
