"""Selection of the sets to annotate (paper Sec. 3.3, SPEC section 4).

A patch is kept if any of its versions (the original and each enhancement: five in the paper) passes the texture
test. Kept patches are ranked by max_k |mean(original - enhanced_k)| on the 0-255 scale, those the
enhancers barely changed (below ``min_diff``) are dropped, and the top N become annotation sets.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def mean_difference(original: np.ndarray, enhanced: np.ndarray) -> float:
    """|mean(original - enhanced)| over all pixels and channels, on the 0-255 scale."""
    return abs(float(np.mean(original.astype(np.float64) - enhanced.astype(np.float64))))


def select_sets(
    patches: list[dict], enhanced: list[dict], versions: tuple[str, ...], min_diff: float, top_n: int | None
) -> tuple[list[dict], dict]:
    """``patches`` rows need patch_id and texture_ok; ``enhanced`` rows patch_id, version,
    texture_ok and mean_abs_diff. Returns the sets (set_id, patch_id, rank, max_diff) and counts."""
    by_patch: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in enhanced:
        by_patch[row["patch_id"]][row["version"]] = row
    counts = {"candidates": len(patches), "incomplete": 0, "no_texture": 0, "below_min_diff": 0}
    kept = []
    for p in patches:
        found = by_patch.get(p["patch_id"], {})
        if any(v not in found for v in versions):
            counts["incomplete"] += 1
            continue
        if not (p["texture_ok"] or any(found[v]["texture_ok"] for v in versions)):
            counts["no_texture"] += 1
            continue
        max_diff = max(found[v]["mean_abs_diff"] for v in versions)
        if max_diff < min_diff:
            counts["below_min_diff"] += 1
            continue
        kept.append((p["patch_id"], max_diff))
    kept.sort(key=lambda item: (-item[1], item[0]))
    if top_n is not None:
        kept = kept[:top_n]
    sets = [{"set_id": pid, "patch_id": pid, "rank": i + 1, "max_diff": diff} for i, (pid, diff) in enumerate(kept)]
    counts["sets"] = len(sets)
    return sets, counts
