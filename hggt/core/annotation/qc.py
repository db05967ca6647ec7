"""Quality control of annotators that catches a random clicker and spares honest people.

Agreement is measured against the *other* annotators only (leave-one-out): where the others who
labelled a version agree with one another (all of them), does this annotator give the same label?
Counting one's own vote in the majority lifts a uniformly random clicker to about 71%; against the
others it stays at one in three, whereas an honest annotator who errs on 20% of versions agrees
about 80% of the time. Repeat consistency is the share of versions of a repeated set that got the
same label twice, over every repeat answered.

A flag needs evidence, not a low share on a handful of versions: an annotator is flagged when the
upper end of the 95% Wilson interval of the share is below the threshold, so the answer count is
part of the decision. The thresholds were chosen by simulation (tests/core/test_annotation_qc.py):
three annotators per set, honest ones erring on 25% of versions with a skewed label mix, random
clickers uniform: a random clicker is flagged within FLAG_WITHIN_SETS sets in about 95% of
campaigns (half of them by 5 sets), honest ones in at most 2-3% of campaigns, looked at five times.
An annotator who gives one label to nearly everything (at least ONE_LABEL_SHARE at 95%) while the
others give it far less often is flagged too: against a skewed mix such a one can agree with the
others more than half the time.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

AGREEMENT_THRESHOLD = 0.6  # a random clicker's expected agreement with the others is 1/3
CONSISTENCY_THRESHOLD = 0.45  # a random clicker repeats its label on 1/3 of versions, one erring on 25% on ~59%
FLAG_WITHIN_SETS = 30  # a random clicker among honest annotators is flagged by then (4 versions a set)
ONE_LABEL_SHARE = 0.9  # one label on 90%+ of versions (lower end at 95%) ...
OTHERS_SHARE_BELOW = 0.7  # ... where the others use it on under 70%: a campaign that is truly all-Similar flags nobody
Z95 = 1.959964


def wilson_upper(successes: int, n: int, z: float = Z95) -> float:
    """Upper end of the Wilson score interval of a proportion (1.0 without observations)."""
    if n == 0:
        return 1.0
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + margin) / (1 + z * z / n))


def wilson_lower(successes: int, n: int, z: float = Z95) -> float:
    """Lower end of the Wilson score interval (0 without observations or successes, as the formula gives)."""
    return 0.0 if n == 0 or successes <= 0 else max(0.0, 1.0 - wilson_upper(n - successes, n, z))


def label_use(votes: list[dict]) -> dict[str, tuple[str, int, int, float]]:
    """Per annotator: (its most used label, how often, of how many versions, the others' share of that label)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for v in votes:
        counts[v["annotator"]][v["label"]] += 1
    total = sum(counts.values(), Counter())
    everyone = sum(total.values())
    out = {}
    for name, mine in counts.items():
        label, used = mine.most_common(1)[0]
        given = sum(mine.values())
        rest = everyone - given
        out[name] = (label, used, given, (total[label] - used) / rest if rest else 1.0)
    return out


def agreement_with_others(votes: list[dict], exclude: frozenset[str] = frozenset()) -> dict[str, tuple[int, int]]:
    """Per annotator: (agreeing, compared) versions, compared where at least two *other*
    annotators (none of ``exclude``) labelled the version and all of them gave the same label.
    Without ``exclude``, two annotators are judged on one consensus each; :func:`robust_agreement`
    first removes those whose answers are no evidence of anything."""
    by_item: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for v in votes:
        by_item[(v["set_id"], v["version"])][v["annotator"]] = v["label"]
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for labels in by_item.values():
        for name, label in labels.items():
            others = Counter(lab for other, lab in labels.items() if other != name and other not in exclude)
            if sum(others.values()) >= 2 and len(others) == 1:
                (consensus,) = others
                out[name][0] += label == consensus
                out[name][1] += 1
    return {name: (a, n) for name, (a, n) in out.items()}


def robust_agreement(votes: list[dict]) -> dict[str, tuple[int, int]]:
    """:func:`agreement_with_others` once more without the annotators it flags: a random clicker
    among three would otherwise make the consensus its partners are judged on a coin toss (an
    honest partner's agreement falls from ~72% to ~59%)."""
    first = agreement_with_others(votes)
    suspects = frozenset(name for name, counts in first.items() if wilson_upper(*counts) < AGREEMENT_THRESHOLD)
    return agreement_with_others(votes, suspects) if suspects else first


def repeat_consistency(votes: list[dict], repeat_votes: list[dict]) -> dict[str, tuple[int, int]]:
    """Per annotator: (same, compared) versions over every repeated set, each version it labelled
    both times."""
    first = {(v["annotator"], v["set_id"], v["version"]): v["label"] for v in votes}
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for v in repeat_votes:
        before = first.get((v["annotator"], v["set_id"], v["version"]))
        if before is not None:
            out[v["annotator"]][0] += before == v["label"]
            out[v["annotator"]][1] += 1
    return {name: (s, n) for name, (s, n) in out.items()}


def flags(agreement: tuple[int, int] | None, consistency: tuple[int, int] | None, too_fast_share: float | None,
          completion: float | None, median_completion: float | None,
          one_label: tuple[str, int, int, float] | None = None) -> list[str]:
    """Why an annotator needs a look, in words (empty: nothing found)."""
    out = []
    if one_label and wilson_lower(one_label[1], one_label[2]) > ONE_LABEL_SHARE and one_label[3] < OTHERS_SHARE_BELOW:
        label, used, n, others = one_label
        out.append(f"answers {label} on {used} of {n} versions; the others on {others:.0%}")
    if agreement and wilson_upper(*agreement) < AGREEMENT_THRESHOLD:
        out.append(f"agrees with the others on {agreement[0]} of {agreement[1]} versions "
                   f"(at most {wilson_upper(*agreement):.0%} at 95%; below {AGREEMENT_THRESHOLD:.0%})")
    if consistency and wilson_upper(*consistency) < CONSISTENCY_THRESHOLD:
        out.append(f"repeated its own label on {consistency[0]} of {consistency[1]} versions of repeated sets "
                   f"(at most {wilson_upper(*consistency):.0%} at 95%)")
    if too_fast_share is not None and too_fast_share > 0.1:
        out.append(f"{too_fast_share:.0%} of answers faster than the minimum time")
    if completion is not None and median_completion is not None and completion < median_completion - 0.25:
        out.append(f"behind: {completion:.0%} done, the others' median {median_completion:.0%}")
    return out
