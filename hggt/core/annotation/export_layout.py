"""Where each labelled set lands when a dataset is exported in the published HGGT layout.

The authors publish ``Train/images/0-20193/{original,01,02,03,04}/`` and
``Train/labels/0-20193/{A,B,C}/`` (README of github.com/ChrisDud0257/HGGT and its
PosNegGTSR/datasets/README.md: "the training dataset, named (0-20193), it has 20193 sets"): a range
folder is named ``<first>-<end>``, counted from 0 with the end excluded. We cut each tree into
ranges of ``range_size`` sets (``0-1000``, ``1000-2000``, ..., ``20000-20193``); one range as large
as the tree gives the published single folder. The annotators of a set become A, B, C in sorted
order of their names, as the published files name people only by letter; the mapping is written
beside the export so that nothing is lost. Sets with other versions than the paper's four (2 to 8,
``enhancers.versions``) get one image folder per version, and label files with Picture_2.. in
version name order; the authors' loaders expect exactly four.
"""

from __future__ import annotations

import csv
import io
import string
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hggt.core.annotation.labels import VERSIONS
from hggt.core.annotation.published import image_name, is_file
from hggt.core.splits import EXCLUDED, TEST, TRAIN

TREES = {TRAIN: "Train", TEST: "Test"}
RANGE_SIZE = 1000
LETTERS = string.ascii_uppercase
MAPPING_FILE = "annotators.csv"
MAPPING_COLUMNS = ("tree", "range", "set_id", "letter", "annotator")
# What the authors' loaders open for every set (A's file list drives B and C).
PUBLISHED_LETTERS = ("A", "B", "C")


def versions_warning(versions_per_set: Mapping[str, int]) -> str | None:
    """One warning for every exported set whose number of versions is not the paper's four, with
    the counts (None when every set has four): the authors' loaders read 01..04 of every set."""
    counts: dict[int, int] = defaultdict(int)
    for n in versions_per_set.values():
        counts[n] += 1
    odd = {n: c for n, c in sorted(counts.items()) if n != len(VERSIONS)}
    if not odd:
        return None
    which = ", ".join(f"{c} with {n} version{'s' if n != 1 else ''}" for n, c in odd.items())
    return (f"{sum(odd.values())} of {len(versions_per_set)} exported sets do not have exactly {len(VERSIONS)} versions "
            f"({which}): the authors' loaders expect exactly {len(VERSIONS)} per set ({', '.join(VERSIONS)}), so their "
            "training and metric scripts need changing to read these sets")


def range_name(index: int, count: int, range_size: int = RANGE_SIZE) -> str:
    """The range folder of the ``index``-th of ``count`` sets of a tree."""
    if range_size < 1:
        raise ValueError(f"range size must be at least 1, not {range_size}")
    if not 0 <= index < count:
        raise ValueError(f"set index {index} outside a tree of {count} sets")
    start = index // range_size * range_size
    return f"{start}-{min(start + range_size, count)}"


def annotator_letters(annotators: Iterable[str]) -> dict[str, str]:
    """Letter -> annotator for one set: A, B, C ... in sorted order of the names."""
    names = sorted(set(annotators))
    if len(names) > len(LETTERS):
        raise ValueError(f"{len(names)} annotators on one set; the published layout names at most {len(LETTERS)} (A-Z)")
    return dict(zip(LETTERS, names))


@dataclass(frozen=True)
class PlacedSet:
    set_id: str
    split: str
    range: str
    annotators: dict[str, str] = field(hash=False)  # letter -> annotator

    @property
    def tree(self) -> str:
        return TREES[self.split]

    def image_relpath(self, file: str) -> str:
        if not is_file(file):
            raise ValueError(f"unknown image {file!r}; 'original' or a version name (01, 02, ...)")
        return f"{self.tree}/images/{self.range}/{file}/{image_name(self.set_id, file)}"

    def label_relpath(self, letter: str) -> str:
        return f"{self.tree}/labels/{self.range}/{letter}/{self.set_id}.json"

    def letter_of(self, annotator: str) -> str:
        return next(letter for letter, name in self.annotators.items() if name == annotator)


def place_sets(splits: Mapping[str, str], annotators: Mapping[str, Iterable[str]],
               range_size: int = RANGE_SIZE) -> list[PlacedSet]:
    """Every set of ``splits`` (set -> train, test or excluded) on the train or test side, in
    sorted order of set ids within its tree, cut into ranges. Excluded sets are not placed (they
    are neither training nor test material); any other split value is an error."""
    unknown = sorted({s for s in splits.values()} - {TRAIN, TEST, EXCLUDED})
    if unknown:
        raise ValueError(f"unknown split value(s) {', '.join(unknown)}; expected {TRAIN}, {TEST} or {EXCLUDED}")
    by_tree: dict[str, list[str]] = defaultdict(list)
    for set_id, split in splits.items():
        if split != EXCLUDED:
            by_tree[split].append(set_id)
    placed = []
    for split in (TRAIN, TEST):
        ids = sorted(by_tree[split])
        for i, set_id in enumerate(ids):
            placed.append(PlacedSet(set_id, split, range_name(i, len(ids), range_size), annotator_letters(annotators[set_id])))
    return placed


def mapping_csv(placed: Iterable[PlacedSet]) -> bytes:
    """One row per (set, letter): which annotator each letter stands for."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MAPPING_COLUMNS)
    for p in placed:
        for letter, annotator in p.annotators.items():
            writer.writerow((p.tree, p.range, p.set_id, letter, annotator))
    return out.getvalue().encode()
