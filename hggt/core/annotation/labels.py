"""Effective labels from votes, by the paper's rule (SPEC section 5).

For one enhanced version and its three votes: if all three differ, the effective label is
"Similar" with count 1; otherwise it is the most common label with its count (2 or 3). A set is
usable only if at least one version's effective label is not "Similar".

Generic majority votes break three-way ties arbitrarily; here the tie is explicit. With other
numbers of annotators the same principle applies: a tie for the most votes gives "Similar" with
count 1, otherwise the most common label and its count.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

LABELS = ("Positive", "Similar", "Negative")
VERSIONS = ("01", "02", "03", "04")  # the paper's four; a dataset's own are its set_images' files (enhancers.versions)
MIN_VERSIONS, MAX_VERSIONS = 2, 8
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}")  # names a folder of the layout, so no dots or slashes


def is_version(name: str) -> bool:
    return name != "original" and VERSION_NAME.fullmatch(name) is not None


def effective_label(votes: Iterable[str]) -> tuple[str, int]:
    votes = list(votes)
    if not votes:
        raise ValueError("no votes")
    unknown = set(votes) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown labels {sorted(unknown)}; expected {LABELS}")
    ranked = Counter(votes).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return "Similar", 1
    return ranked[0]


def aggregate(votes: Iterable[dict], required: int, versions: Sequence[str] | None = None) -> tuple[list[dict], list[str]]:
    """``votes`` rows have set_id, version, annotator, label. Returns labels rows (set_id, version,
    effective_label, vote_count, usable) for sets whose every version has ``required`` votes,
    and the ids of sets left out because they have fewer. ``versions``: every set's versions;
    None: each set's are the versions voted on in it (a set has 2 to 8)."""
    votes = list(votes)
    seen: dict[str, set[str]] = defaultdict(set)
    for v in votes:
        seen[v["set_id"]].add(v["version"])
    by_version: dict[tuple[str, str], list[str]] = defaultdict(list)
    annotators: dict[str, set[str]] = defaultdict(set)
    for v in votes:
        by_version[(v["set_id"], v["version"])].append(v["label"])
        annotators[v["set_id"]].add(v["annotator"])
    rows, short = [], []
    for set_id in sorted(annotators):
        counts = {ver: by_version.get((set_id, ver), []) for ver in (versions or sorted(seen[set_id]))}
        if any(len(c) < required for c in counts.values()):
            short.append(set_id)
            continue
        effective = {ver: effective_label(c) for ver, c in counts.items()}
        usable = any(label != "Similar" for label, _ in effective.values())
        rows += [
            {"set_id": set_id, "version": ver, "effective_label": lab, "vote_count": n, "usable": usable}
            for ver, (lab, n) in effective.items()
        ]
    return rows, short
