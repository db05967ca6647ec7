"""What a finished dataset shows at a glance (`hggt summary`, the close of `make demo`): label
shares per version, the held-out split, and the runs scored on its test side side by side."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hggt.core.annotation.labels import LABELS, VERSIONS
from hggt.core.evaluation import DATASET, table3

# What the demo's shipped enhancers must give under the proxy annotator (issue: a demo that shows
# the method): enough Positive versions to hold out test sets, enough Negative ones for the maps.
DEMO_TARGETS = {"Positive": 0.20, "Negative": 0.10}


def label_counts(labels: Iterable[Mapping]) -> dict[str, dict[str, int]]:
    """Effective labels per version (those labelled, in name order; the paper's four when there are
    none yet): {version: {label: count}}."""
    labels = list(labels)
    counts = {v: dict.fromkeys(LABELS, 0) for v in sorted({r["version"] for r in labels}) or VERSIONS}
    for r in labels:
        counts.setdefault(r["version"], dict.fromkeys(LABELS, 0))[r["effective_label"]] += 1
    return counts


def label_proportions(labels: Iterable[Mapping]) -> dict[str, dict[str, float]]:
    """The paper's key statistic: the share of each effective label among the sets, per version."""
    return {v: {lab: (n / total if (total := sum(c.values())) else 0.0) for lab, n in c.items()} for v, c in label_counts(labels).items()}


def label_shares(labels: Iterable[Mapping]) -> dict[str, dict[str, float]]:
    """:func:`label_proportions` plus the shares over all versions ('all')."""
    labels = list(labels)
    shares = label_proportions(labels)
    shares["all"] = label_proportions([{**r, "version": "all"} for r in labels])["all"]
    return shares


def held_out_table(metrics: Iterable[Mapping], runs: Mapping[str, Mapping], test_set: str = DATASET) -> list[dict]:
    """Table 3 rows of every run scored on the dataset's held-out test side (and of the bicubic
    baseline, first, where it was scored)."""
    return table3([r for r in metrics if r["test_set"] == test_set], runs)


def demo_misses(shares: Mapping[str, float]) -> list[str]:
    return [f"{lab} {shares[lab]:.0%} < {target:.0%}" for lab, target in DEMO_TARGETS.items() if shares[lab] < target]


def enhancer_counts(stage: Mapping) -> dict[str, int]:
    """The enhancers of a train-enhancers summary by how each came to be: trained here, adopted
    ready-made (enhancers.pretrained: hggt-trained files) or declared (model files loaded through
    Spandrel, never trained); a declared one is never counted as trained."""
    out = {}
    trained = stage.get("trained", 0)
    if trained:
        out["enhancers adopted ready-made" if stage.get("pretrained") else "enhancers trained"] = trained
    if stage.get("declared"):
        out["enhancers declared (model files, not trained)"] = len(stage["declared"])
    return out
