"""Which versions of a labelled set serve as positive and negative GTs, with their vote counts."""

from __future__ import annotations

from collections import defaultdict


def gt_versions(labels: list[dict]) -> dict[str, dict[str, list[tuple[str, int]]]]:
    """For each usable set: {"positive": [(version, votes)], "negative": [(version, votes)]}."""
    out: dict[str, dict[str, list[tuple[str, int]]]] = defaultdict(lambda: {"positive": [], "negative": []})
    for r in sorted(labels, key=lambda r: (r["set_id"], r["version"])):
        if not r["usable"]:
            continue
        entry = out[r["set_id"]]
        if r["effective_label"] == "Positive":
            entry["positive"].append((r["version"], r["vote_count"]))
        elif r["effective_label"] == "Negative":
            entry["negative"].append((r["version"], r["vote_count"]))
    return dict(out)


def map_pairs(entry: dict[str, list[tuple[str, int]]]) -> list[tuple[str, int, str, int]]:
    """(positive version or 'original', its votes, negative version, its votes) for every pair."""
    positives = entry["positive"] or [("original", 0)]
    return [(p, np_, n, nn) for p, np_ in positives for n, nn in entry["negative"]]
