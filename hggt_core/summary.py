"""What a finished dataset shows at a glance (`hggt summary`, the close of `make demo`): label
shares per version, the held-out split, and the runs scored on its test side side by side."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from hggt_core.annotation.labels import LABELS, VERSIONS
from hggt_core.evaluation import DATASET, table3

# What the demo's shipped enhancers must give under the proxy annotator (issue: a demo that shows
# the method): enough Positive versions to hold out test sets, enough Negative ones for the maps.
DEMO_TARGETS = {"Positive": 0.20, "Negative": 0.10}


def label_shares(labels: Iterable[Mapping]) -> dict[str, dict[str, float]]:
    """Share of each effective label among the versions, per version and over all ('all')."""
    counts: dict[str, Counter] = {v: Counter() for v in (*VERSIONS, "all")}
    for r in labels:
        counts[r["version"]][r["effective_label"]] += 1
        counts["all"][r["effective_label"]] += 1
    return {v: {lab: (c[lab] / total if (total := sum(c.values())) else 0.0) for lab in LABELS} for v, c in counts.items()}


def held_out_table(metrics: Iterable[Mapping], runs: Mapping[str, Mapping], test_set: str = DATASET) -> list[dict]:
    """Table 3 rows of every run scored on the dataset's held-out test side."""
    return table3([r for r in metrics if r["test_set"] == test_set and r["run_id"] in runs], runs)


def demo_misses(shares: Mapping[str, float]) -> list[str]:
    return [f"{lab} {shares[lab]:.0%} < {target:.0%}" for lab, target in DEMO_TARGETS.items() if shares[lab] < target]
