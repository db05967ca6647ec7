"""The held-out split (SPEC section 9, Test-100): which labelled sets train and which test.

The split is by source photo, never by crop: crops of one photo overlap (step 288 < crop 512), so
a crop on the test side would share pixels with its neighbours on the train side. The test side
follows the paper's Test-100 rule: sets with at least two Positive versions, up to ``test_sets``
of them, photos drawn in a seeded random order. Every other set of a photo that is not on the test
side is ``train`` (usable or not: the authors' Ori models train on all of them). A test photo's
sets that fail the rule (fewer than two positives) are ``excluded``: they cannot be test sets, and
training on them would put that photo on both sides. A dataset imported from the published
layout keeps the published Test tree as its test side instead (:func:`imported_splits`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

from hggt.core.seeding import item_rng

TRAIN, TEST, EXCLUDED = "train", "test", "excluded"
STAGE = "split"
MIN_TEST_POSITIVES = 2
_CROP_SUFFIX = re.compile(r"^(?P<image>.+)-\d+-\d+$")


def image_of(set_id: str) -> str:
    """The source photo of a set named ``{image}-{row}-{col}`` (the published naming), or the set
    itself when the name does not follow it."""
    found = _CROP_SUFFIX.match(set_id)
    return found.group("image") if found else set_id


def _tally(labels: Iterable[Mapping], images: Mapping[str, str]) -> tuple[dict[str, int], dict[str, bool], dict[str, str]]:
    """Per labelled set: its number of effective positives, whether it is usable, its photo."""
    positives: dict[str, int] = defaultdict(int)
    usable: dict[str, bool] = {}
    for r in labels:
        positives[r["set_id"]] += r["effective_label"] == "Positive"
        usable[r["set_id"]] = bool(r["usable"])
    return positives, usable, {s: images.get(s) or image_of(s) for s in usable}


def assign_splits(labels: Iterable[Mapping], images: Mapping[str, str], test_sets: int, seed: int) -> list[dict]:
    """Rows of splits.parquet for every labelled set.

    ``labels`` are labels.parquet rows (set_id, version, effective_label, usable); ``images`` maps
    set ids to their source photo (sets missing from it use :func:`image_of`). Photos that have
    qualifying sets are visited in a random order drawn from ``seed``; a photo goes to the test side
    when all its qualifying sets still fit under ``test_sets``. When no photo fits whole (few photos,
    many crops each), the first photo of that order goes to the test side with ``test_sets`` of its
    qualifying sets drawn at random, the rest of them excluded.
    """
    positives, usable, photo = _tally(labels, images)
    qualifying: dict[str, int] = defaultdict(int)
    for s in usable:
        if positives[s] >= MIN_TEST_POSITIVES:
            qualifying[photo[s]] += 1
    candidates = sorted(qualifying)
    order = item_rng(seed, STAGE, "photos").permutation(len(candidates)) if candidates else []
    test_photos, taken = set(), 0
    for i in order:
        name = candidates[int(i)]
        if taken + qualifying[name] <= test_sets:
            test_photos.add(name)
            taken += qualifying[name]
        if taken == test_sets:
            break
    chosen: set[str] | None = None  # None: every qualifying set of a test photo is a test set
    if not test_photos and candidates and test_sets > 0:
        first = candidates[int(order[0])]
        test_photos.add(first)
        own = sorted(s for s in usable if photo[s] == first and positives[s] >= MIN_TEST_POSITIVES)
        picks = item_rng(seed, STAGE, f"sets/{first}").permutation(len(own))[:test_sets]
        chosen = {own[int(i)] for i in picks}
    rows = []
    for s in sorted(usable):
        if photo[s] not in test_photos:
            side = TRAIN
        else:
            qualifies = positives[s] >= MIN_TEST_POSITIVES and (chosen is None or s in chosen)
            side = TEST if qualifies else EXCLUDED
        rows.append({"set_id": s, "image_id": photo[s], "split": side, "positives": positives[s], "usable": usable[s]})
    return rows


def imported_splits(labels: Iterable[Mapping], images: Mapping[str, str], test_ids: set[str]) -> list[dict]:
    """Rows of splits.parquet when the test side was imported (the published Test tree): exactly
    the labelled sets of ``test_ids`` test, whatever their positives; every other set trains,
    except those of a photo that also has a test set, which are ``excluded`` (no photo on both
    sides, as for a drawn split)."""
    positives, usable, photo = _tally(labels, images)
    test_photos = {photo[s] for s in usable if s in test_ids}
    return [{"set_id": s, "image_id": photo[s], "split": TEST if s in test_ids else EXCLUDED if photo[s] in test_photos else TRAIN,
             "positives": positives[s], "usable": usable[s]} for s in sorted(usable)]


def split_fingerprint(rows: Iterable[Mapping]) -> str:
    """A short hash of which set is on which side: runs record it, evaluation compares it."""
    pairs = sorted((r["set_id"], r["split"]) for r in rows)
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()[:16]


def sets_on(rows: Iterable[Mapping], side: str) -> set[str]:
    return {r["set_id"] for r in rows if r["split"] == side}
