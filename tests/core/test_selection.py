"""Selection of annotation sets (SPEC section 4) against a direct computation."""

import numpy as np

from hggt.core.selection import mean_difference, select_sets

VERSIONS = ("01", "02", "03", "04")


def test_mean_difference_is_the_absolute_signed_mean():
    a = np.array([[[10, 20, 30]]], np.uint8)
    b = np.array([[[12, 10, 40]]], np.uint8)
    assert mean_difference(a, b) == abs((-2 + 10 - 10) / 3)
    assert mean_difference(b, a) == mean_difference(a, b)


def _case(seed=0, n=40):
    rng = np.random.default_rng(seed)
    patches = [{"patch_id": f"img-{i}-0", "texture_ok": bool(rng.random() < 0.3)} for i in range(n)]
    enhanced = []
    for p in patches:
        for v in VERSIONS:
            if p["patch_id"] == "img-7-0" and v == "03":
                continue  # one patch lacks a version
            enhanced.append({"patch_id": p["patch_id"], "version": v, "texture_ok": bool(rng.random() < 0.2),
                             "mean_abs_diff": float(rng.uniform(0, 5))})
    return patches, enhanced


def test_ranking_matches_a_direct_computation():
    patches, enhanced = _case()
    sets, counts = select_sets(patches, enhanced, VERSIONS, min_diff=1.0, top_n=None)
    expected = []
    for p in patches:
        rows = [e for e in enhanced if e["patch_id"] == p["patch_id"]]
        if len(rows) < 4 or not (p["texture_ok"] or any(e["texture_ok"] for e in rows)):
            continue
        diff = max(e["mean_abs_diff"] for e in rows)
        if diff >= 1.0:
            expected.append((diff, p["patch_id"]))
    expected.sort(key=lambda t: (-t[0], t[1]))
    assert [(s["max_diff"], s["patch_id"]) for s in sets] == expected
    assert [s["rank"] for s in sets] == list(range(1, len(sets) + 1))
    assert counts["incomplete"] == 1 and counts["sets"] == len(sets)
    assert counts["candidates"] == counts["sets"] + counts["incomplete"] + counts["no_texture"] + counts["below_min_diff"]


def test_top_n_keeps_the_most_changed():
    patches, enhanced = _case(seed=1)
    everything, _ = select_sets(patches, enhanced, VERSIONS, 0.0, None)
    top, _ = select_sets(patches, enhanced, VERSIONS, 0.0, 5)
    assert top == everything[:5]


def test_a_texture_pass_in_any_version_keeps_the_patch():
    patches = [{"patch_id": "p", "texture_ok": False}]
    enhanced = [{"patch_id": "p", "version": v, "texture_ok": v == "04", "mean_abs_diff": 1.0} for v in VERSIONS]
    assert len(select_sets(patches, enhanced, VERSIONS, 0.0, None)[0]) == 1
    enhanced[-1]["texture_ok"] = False
    assert select_sets(patches, enhanced, VERSIONS, 0.0, None)[1]["no_texture"] == 1
