"""The held-out split: by photo, Test-100 rule, deterministic, fingerprinted."""

from __future__ import annotations

from collections import defaultdict

from hggt.core.splits import EXCLUDED, TEST, TRAIN, assign_splits, image_of, split_fingerprint


def _labels(plan: dict[str, int]) -> list[dict]:
    """labels.parquet rows: each set gets `n` Positive versions, the rest Similar (a set with no
    positive is unusable)."""
    return [{"set_id": s, "version": f"0{v}", "effective_label": "Positive" if v <= n else "Similar", "usable": n > 0}
            for s, n in plan.items() for v in range(1, 5)]


def _corpus(photos: int = 30, crops: int = 5) -> dict[str, int]:
    # positives per set cycle through 0..3, so about half the sets qualify for the test side
    return {f"p{i:02d}-{r * 288}-{c}": (i + r + c) % 4 for i in range(photos) for r in range(crops) for c in (0, 288)}


def test_photos_are_never_on_both_sides_and_test_sets_have_two_positives():
    plan = _corpus()
    rows = assign_splits(_labels(plan), {}, test_sets=20, seed=3)
    assert len(rows) == len(plan) and {r["set_id"] for r in rows} == set(plan)
    sides = defaultdict(set)
    for r in rows:
        sides[r["image_id"]].add(TRAIN if r["split"] == TRAIN else "held out")
        assert r["positives"] == plan[r["set_id"]] and r["image_id"] == r["set_id"].split("-")[0]
    assert all(len(s) == 1 for s in sides.values())
    test = [r for r in rows if r["split"] == TEST]
    assert 0 < len(test) <= 20 and all(plan[r["set_id"]] >= 2 for r in test)
    assert all(plan[r["set_id"]] < 2 for r in rows if r["split"] == EXCLUDED)
    held = {r["image_id"] for r in rows if r["split"] != TRAIN}
    assert all(r["split"] == TRAIN for r in rows if r["image_id"] not in held)  # unusable sets train too (Ori)
    assert any(r["split"] == TRAIN and not r["usable"] for r in rows)


def test_the_split_is_deterministic_and_depends_on_the_seed():
    labels = _labels(_corpus())
    a, b = assign_splits(labels, {}, 20, 3), assign_splits(list(reversed(labels)), {}, 20, 3)
    assert a == b and split_fingerprint(a) == split_fingerprint(list(reversed(b)))
    c = assign_splits(labels, {}, 20, 4)
    assert {r["set_id"] for r in c if r["split"] == TEST} != {r["set_id"] for r in a if r["split"] == TEST}
    assert split_fingerprint(c) != split_fingerprint(a)


def test_photos_come_from_the_patch_manifest_when_known():
    labels = _labels({"x-0-0": 2, "y-0-0": 2, "z-0-0": 0})
    rows = assign_splits(labels, {"x-0-0": "same", "y-0-0": "same"}, test_sets=2, seed=0)
    by_set = {r["set_id"]: r for r in rows}
    assert by_set["x-0-0"]["image_id"] == by_set["y-0-0"]["image_id"] == "same"
    assert by_set["x-0-0"]["split"] == by_set["y-0-0"]["split"] == TEST and by_set["z-0-0"]["split"] == TRAIN


def test_a_photo_larger_than_the_test_side_is_split_within_the_budget():
    """With one photo of many qualifying crops and a small budget nothing fits whole: that photo is
    held out, `test_sets` of its crops are tested and its other crops are excluded."""
    plan = {f"big-{r}-0": 3 for r in range(6)} | {"other-0-0": 1}
    rows = assign_splits(_labels(plan), {}, test_sets=2, seed=0)
    sides = defaultdict(list)
    for r in rows:
        sides[r["split"]].append(r["set_id"])
    assert len(sides[TEST]) == 2 and len(sides[EXCLUDED]) == 4 and sides[TRAIN] == ["other-0-0"]
    assert assign_splits(_labels(plan), {}, test_sets=0, seed=0) == [
        {**r, "split": TRAIN} for r in rows]


def test_image_of_follows_the_published_naming():
    assert image_of("0001-288-576") == "0001" and image_of("a-b-12-0") == "a-b" and image_of("odd") == "odd"
