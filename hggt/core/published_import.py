"""Sets read from the published HGGT layout (SPEC section 5), as a new dataset's own: which sets an
input holds and on which side, and what each set's images say about it.

The authors publish ``Train/images/<range>/{original,01..04}/`` with ``Train/labels/<range>/{A,B,C}/``
and a Test tree beside it; hggt's export-dataset writes the same two trees, and a bare
``images/<range>/`` tree (no Train/Test) is read too. A set's side is the tree it sits in, so the
published Test tree can become the held-out test side (hggt.core.splits.imported_splits).
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from hggt.core.annotation.export_layout import TREES
from hggt.core.annotation.published import image_name, image_path
from hggt.core.config import PatchConfig
from hggt.core.patches import crop_textures
from hggt.core.selection import mean_difference

PUBLISHED_FILES = frozenset(("original", "01", "02", "03", "04"))
SIDES = {tree: side for side, tree in TREES.items()}  # "Train" -> train, "Test" -> test
_POSITION = re.compile(r"-(?P<row>\d+)-(?P<col>\d+)$")


@dataclass(frozen=True)
class PublishedSet:
    set_id: str
    side: str | None  # train / test from the tree it is in; None in a bare images/ tree
    range: str
    urls: dict[str, str] = field(hash=False)  # file (original, 01 ..) -> URL
    relpaths: dict[str, str] = field(hash=False)  # file -> path inside the input


def set_item(set_id: str) -> str:
    """How a published set is named in the rejected records: by its images (`images/<set id>`)."""
    return f"images/{set_id}"


def set_of_item(item: str) -> str:
    return item.removeprefix(set_item(""))


def side_of(relpath: str) -> tuple[str | None, str]:
    """(side, range) of an image at ``[<tree>/]images/<range>/<file>/<name>.png``."""
    parts = relpath.split("/")
    tree = parts[-5] if len(parts) >= 5 else None
    return SIDES.get(tree or ""), parts[-3]


def expected_relpath(original_relpath: str, set_id: str, file: str) -> str:
    """Where a set's ``file`` belongs, beside its original."""
    folder = posixpath.dirname(posixpath.dirname(original_relpath))
    return posixpath.join(folder, file, image_name(set_id, file))


def scan(files: Iterable[tuple[str, str]]) -> tuple[dict[str, PublishedSet], list[tuple[str, str]]]:
    """The complete sets among ``(relpath, url)`` pairs, and ``(item, reason)`` for the others: a
    set lacking an image, or found in two places (two trees or ranges). Every set of one input has
    the same files: those most sets have (the published 01..04 when none is complete)."""
    found: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    places: dict[str, set[tuple[str | None, str]]] = defaultdict(set)
    twice: dict[str, list[str]] = defaultdict(list)
    for relpath, url in files:
        parsed = image_path(relpath)
        if not parsed:
            continue
        set_id, file = parsed
        if file in found[set_id]:
            twice[set_id].append(relpath)
        found[set_id][file] = (relpath, url)
        places[set_id].add(side_of(relpath))
    shapes = Counter(frozenset(imgs) for imgs in found.values() if "original" in imgs and len(imgs) >= 3)
    expected = max(shapes, key=lambda s: (shapes[s], len(s)), default=PUBLISHED_FILES)
    sets, problems = {}, []
    for set_id in sorted(found):
        imgs = found[set_id]
        if twice[set_id] or len(places[set_id]) > 1:
            where = sorted({p for p, _ in imgs.values()} | set(twice[set_id]))
            problems.append((set_item(set_id), f"set {set_id} is in more than one place ({', '.join(where)}); import one copy"))
        elif set(imgs) != expected:
            lacking = sorted(expected - set(imgs))
            if lacking and "original" in imgs:
                paths = ", ".join(expected_relpath(imgs["original"][0], set_id, f) for f in lacking)
                reason = f"set {set_id} lacks its {', '.join(lacking)} image(s): no {paths}"
            else:
                wanted = ", ".join(sorted(expected))
                reason = f"set {set_id} lacks its {', '.join(lacking) or 'exact file set'} image(s) ({wanted} expected)"
            problems.append((set_item(set_id), reason))
        else:
            side, rng = places[set_id].pop()
            sets[set_id] = PublishedSet(set_id, side, rng, {f: u for f, (_, u) in imgs.items()}, {f: p for f, (p, _) in imgs.items()})
    return sets, problems


def crop_position(set_id: str) -> tuple[int, int]:
    """(row, col) of a set named ``{image}-{row}-{col}`` (the published naming), else (0, 0)."""
    found = _POSITION.search(set_id)
    return (int(found["row"]), int(found["col"])) if found else (0, 0)


@dataclass(frozen=True)
class SetStats:
    size: int
    textures: dict[str, tuple[float, float, bool]]  # file -> (gray std, Laplacian variance, texture decision)
    diffs: dict[str, float]  # version -> |mean(original - version)|, as select ranks

    @property
    def max_diff(self) -> float:
        return max(self.diffs.values())


def describe_set(images: Mapping[str, np.ndarray], patches: PatchConfig) -> SetStats:
    """What patches and enhance record of a crop and its versions, from the published images;
    ValueError when they are not one square size (maps and training pair them pixel by pixel)."""
    original = images["original"]
    h, w = original.shape[:2]
    if h != w:
        raise ValueError(f"the original is {w}x{h}; published crops are square")
    other = {f: a.shape[:2] for f, a in images.items() if a.shape[:2] != (h, w)}
    if other:
        sizes = ", ".join(f"{f} is {s[1]}x{s[0]}" for f, s in sorted(other.items()))
        raise ValueError(f"images of different sizes: {sizes}, the original {w}x{h}")
    cfg = patches.model_copy(update={"crop_size": h})
    at = np.zeros((1, 2), np.int64)
    textures = {f: crop_textures(a, at, cfg)[0] for f, a in images.items()}
    return SetStats(h, textures, {f: mean_difference(original, a) for f, a in images.items() if f != "original"})
