"""Uses of the learned annotator: which sets people see first, which they need not see at all, and
votes for unattended demos."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from hggt.core.annotation.labels import LABELS

ORDERS = ("rank", "uncertainty")
# Three proxy voters read the predicted distribution on the ordinal scale Positive < Similar <
# Negative at these cumulative points: lenient, median, strict. No randomness, and the majority is
# the distribution's median label.
VOTER_QUANTILES = {"learned-1": 1 / 6, "learned-2": 1 / 2, "learned-3": 5 / 6}


def set_uncertainty(items: list[tuple[str, str]], proba: np.ndarray) -> dict[str, float]:
    """Mean entropy (in bits) of the predicted label distribution over a set's versions."""
    per_set: dict[str, list[float]] = defaultdict(list)
    for (set_id, _), p in zip(items, proba, strict=True):
        q = np.clip(p, 1e-12, 1.0)
        per_set[set_id].append(float(-(q * np.log2(q)).sum()))
    return {s: float(np.mean(v)) for s, v in per_set.items()}


def plan(set_ids: list[str], p_all_similar: dict[str, float], uncertainty: dict[str, float], order: str,
         skip_confident: float | None) -> list[dict]:
    """One decision per set: ``skipped`` when P(all Similar) > ``skip_confident``, else ``annotate``,
    with its place in the hand-out order (``rank``: as given; ``uncertainty``: least sure first,
    ties by set id). Deterministic for a given model and set list."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    if skip_confident is not None and not 0.0 <= skip_confident <= 1.0:
        raise ValueError(f"--skip-confident must be a probability in [0, 1], got {skip_confident}")
    missing = [s for s in set_ids if s not in p_all_similar]
    if missing:
        raise ValueError(f"no prediction for set {missing[0]} ({len(missing)} sets lack one)")
    ordered = list(set_ids) if order == "rank" else sorted(set_ids, key=lambda s: (-uncertainty[s], s))
    rows, position = [], 0
    for s in ordered:
        skip = skip_confident is not None and p_all_similar[s] > skip_confident
        rows.append({"set_id": s, "p_all_similar": p_all_similar[s], "uncertainty": uncertainty[s],
                     "order": order, "position": None if skip else position, "decision": "skipped" if skip else "annotate",
                     "threshold": skip_confident})
        position += not skip
    return rows


def keep_order(assignments: list[dict], ordered: list[str]) -> list[dict]:
    """Put ``ordered[k]`` in the k-th slot of a seeded assignment (slots by position): annotators,
    batches and loads stay exactly as assigned (they depend on the slot, not the set), only which set
    fills each slot follows the order, so people meet the least certain sets first."""
    slots = sorted({a["position"] for a in assignments})
    if len(slots) != len(ordered):
        raise ValueError(f"{len(ordered)} sets for {len(slots)} assignment slots")
    fill = dict(zip(slots, ordered))
    return [{**a, "set_id": fill[a["position"]]} for a in assignments]


def learned_votes(items: list[tuple[str, str]], proba: np.ndarray) -> list[dict]:
    """Votes of three proxy voters from the predicted distributions (source 'proxy')."""
    rows = []
    for (set_id, version), p in zip(items, proba, strict=True):
        cdf = np.cumsum(p)
        for name, q in VOTER_QUANTILES.items():
            label = LABELS[min(int(np.searchsorted(cdf, q, side="left")), len(LABELS) - 1)]
            rows.append({"set_id": set_id, "version": version, "annotator": name, "label": label, "source": "proxy",
                         "started_at": None, "ended_at": None, "seconds": None})
    return rows
