"""How good a rater is on labelled sets: accuracy and Cohen's kappa against the effective labels,
each human against the majority of the others, calibration, and what skipping confident sets costs.
Every function takes plain rows, so the same numbers can be computed for any rater."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from math import factorial

import numpy as np

from hggt.core.annotation.labels import LABELS, effective_label
from hggt.core.annotator.calibration import ECE_BINS, one_hot, reliability

Item = tuple[str, str]  # (set_id, version)
SKIP_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def vote_targets(votes: Iterable[Mapping]) -> tuple[list[Item], np.ndarray]:
    """Items (sorted) and, per item, the share of its votes for each label: the soft targets."""
    counts: dict[Item, np.ndarray] = defaultdict(lambda: np.zeros(len(LABELS)))
    for v in votes:
        if v["label"] not in LABELS:
            raise ValueError(f"set {v['set_id']} version {v['version']}: unknown label {v['label']!r}; expected {LABELS}")
        counts[(v["set_id"], v["version"])][LABELS.index(v["label"])] += 1
    items = sorted(counts)
    t = np.array([counts[i] / counts[i].sum() for i in items]).reshape(len(items), len(LABELS))
    return items, t


def confusion(truth: list[str], predicted: list[str]) -> np.ndarray:
    """(K, K) counts, rows the reference label, columns the rater's, in LABELS order."""
    m = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    for a, b in zip(truth, predicted, strict=True):
        m[LABELS.index(a), LABELS.index(b)] += 1
    return m


def cohen_kappa(truth: list[str], predicted: list[str]) -> float | None:
    """Cohen's kappa of two raters over the same items; None without items, 1.0 when both give one
    and the same label throughout (agreement is total, chance agreement too)."""
    m = confusion(truth, predicted).astype(np.float64)
    n = m.sum()
    if n == 0:
        return None
    observed = np.trace(m) / n
    chance = float((m.sum(axis=1) * m.sum(axis=0)).sum() / (n * n))
    return 1.0 if chance >= 1.0 else float((observed - chance) / (1.0 - chance))


def rate(reference: Mapping[Item, str], predicted: Mapping[Item, str]) -> dict:
    """Accuracy and kappa of ``predicted`` over the items of ``reference`` it labelled."""
    items = sorted(set(reference) & set(predicted))
    truth, pred = [reference[i] for i in items], [predicted[i] for i in items]
    accuracy = float(np.mean([a == b for a, b in zip(truth, pred)])) if items else None
    return {"items": len(items), "sets": len({s for s, _ in items}), "accuracy": accuracy, "kappa": cohen_kappa(truth, pred)}


def humans_vs_others(votes: Iterable[Mapping], items: set[Item]) -> list[dict]:
    """Each annotator's accuracy and kappa against the effective label of the *other* annotators'
    votes (the paper's rule; with two others who disagree that is Similar), on ``items`` where at
    least two others voted: where a model sits among people on the same sets."""
    by_item: dict[Item, dict[str, str]] = defaultdict(dict)
    for v in votes:
        item = (v["set_id"], v["version"])
        if item in items:
            by_item[item][v["annotator"]] = v["label"]
    names = sorted({a for labels in by_item.values() for a in labels})
    rows = []
    for name in names:
        reference, mine = {}, {}
        for item, labels in by_item.items():
            others = [lab for a, lab in labels.items() if a != name]
            if name in labels and len(others) >= 2:
                reference[item], mine[item] = effective_label(others)[0], labels[name]
        rows.append({"rater": f"human {name}", "reference": "majority of the other annotators", **rate(reference, mine)})
    return rows


def calibration(proba: np.ndarray, truth: list[str], bins: int = ECE_BINS) -> list[dict]:
    """Reliability of the most probable label: per confidence bin, how often it was right."""
    return reliability(proba, one_hot(truth), bins)


def effective_proba(proba: np.ndarray, annotators: int = 3) -> np.ndarray:
    """From the probability of one person's vote to that of the *effective* label of ``annotators``
    independent votes under the paper's rule (a tie for the most votes is Similar): what skipping
    and the comparison with labels are about. Exact, by enumerating the vote counts."""
    proba = np.asarray(proba, dtype=np.float64)
    out = np.zeros_like(proba)
    k = len(LABELS)
    similar = LABELS.index("Similar")
    for counts in _compositions(annotators, k):
        ways = factorial(annotators) / np.prod([factorial(c) for c in counts])
        p = ways * np.prod([proba[:, j] ** c for j, c in enumerate(counts)], axis=0)
        top = max(counts)
        winner = counts.index(top) if counts.count(top) == 1 else similar
        out[:, winner] += p
    return out


def _compositions(n: int, k: int) -> list[tuple[int, ...]]:
    if k == 1:
        return [(n,)]
    return [(i, *rest) for i in range(n + 1) for rest in _compositions(n - i, k - 1)]


def all_similar_probability(items: list[Item], proba: np.ndarray) -> dict[str, float]:
    """P(every version of a set is Similar), taking the versions as independent given the model;
    ``proba`` is whatever distribution is meant (usually :func:`effective_proba`'s)."""
    out: dict[str, float] = defaultdict(lambda: 1.0)
    similar = LABELS.index("Similar")
    for (set_id, _), p in zip(items, proba, strict=True):
        out[set_id] *= float(p[similar])
    return dict(out)


def skip_curve(p_all_similar: Mapping[str, float], labels: Mapping[Item, str], thresholds: Iterable[float] = SKIP_THRESHOLDS) -> list[dict]:
    """For each threshold P: how many labelled sets ``--skip-confident P`` would leave out, and how many
    of those people had not labelled all-Similar (a usable set lost) with how many non-Similar versions."""
    by_set: dict[str, list[str]] = defaultdict(list)
    for (s, _), lab in labels.items():
        by_set[s].append(lab)
    sets = sorted(s for s in by_set if s in p_all_similar)
    rows = []
    for p in sorted(set(thresholds)):
        skipped = [s for s in sets if p_all_similar[s] > p]
        lost = [s for s in skipped if any(lab != "Similar" for lab in by_set[s])]
        rows.append({"threshold": float(p), "sets": len(sets), "skipped_sets": len(skipped),
                     "skipped_share": len(skipped) / len(sets) if sets else None,
                     "skipped_not_all_similar": len(lost), "error_rate": len(lost) / len(skipped) if skipped else None,
                     "non_similar_versions_lost": sum(lab != "Similar" for s in lost for lab in by_set[s])})
    return rows
