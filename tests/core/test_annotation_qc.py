"""The annotator flags, checked by simulation: honest annotators with a known error rate and a
skewed label mix, and uniformly random clickers, three to a set as in the paper. A random clicker
must be flagged within qc.FLAG_WITHIN_SETS sets; honest ones at most 5% of the time, at every point
of a campaign a coordinator might look."""

from __future__ import annotations

import numpy as np
import pytest

from hggt.core.annotation import qc
from hggt.core.annotation.labels import LABELS

MIX = (0.3, 0.2, 0.5)  # true Positive / Similar / Negative shares: a skewed campaign
ERROR = 0.25  # an honest annotator's share of wrong labels, the worst we accept as honest
LOOKS = (5, 10, 20, 30, 50)


def _campaign(rng, sets: int, kinds: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """Votes on 4 versions per set, and every annotator repeating one set in five."""
    votes, repeats = [], []

    def answer(kind, true):
        if kind == "random":
            return int(rng.integers(3))
        if kind == "always-negative":  # a biased one: the campaign's most common label, every time
            return 2
        return true if rng.random() > ERROR else int(rng.choice([k for k in range(3) if k != true]))

    for s in range(sets):
        for v in range(4):
            true = int(rng.choice(3, p=MIX))
            for name, kind in kinds.items():
                votes.append({"set_id": f"s{s}", "version": f"0{v + 1}", "annotator": name, "label": LABELS[answer(kind, true)]})
                if s % 5 == 0:
                    repeats.append({"set_id": f"s{s}", "version": f"0{v + 1}", "annotator": name,
                                    "label": LABELS[answer(kind, true)]})
    return votes, repeats


def _flagged_at(votes, repeats, sets: int) -> set[str]:
    seen = [v for v in votes if int(v["set_id"][1:]) < sets]
    again = [v for v in repeats if int(v["set_id"][1:]) < sets]
    agreement, consistency = qc.robust_agreement(seen), qc.repeat_consistency(seen, again)
    habits = qc.label_use(seen)
    return {name for name in {v["annotator"] for v in seen}
            if qc.flags(agreement.get(name), consistency.get(name), None, None, None, habits.get(name))}


def test_wilson_upper_bound_matches_the_formula():
    # the 95% Wilson interval of 50 in 100 is [0.4038, 0.5962]
    assert qc.wilson_upper(50, 100) == pytest.approx(0.5962, abs=1e-4)
    assert qc.wilson_upper(0, 0) == 1.0 and qc.wilson_upper(10, 10) == pytest.approx(1.0)


def test_leave_one_out_agreement_does_not_count_ones_own_vote():
    votes = [{"set_id": "s", "version": "01", "annotator": n, "label": lab} for n, lab in zip("abc", ("Positive", "Positive", "Negative"))]
    # c is compared with a and b, who agree (Positive): 0 of 1; a and b see others who disagree: not compared
    assert qc.agreement_with_others(votes) == {"c": (0, 1)}


def test_a_random_clicker_is_flagged_soon_and_honest_annotators_rarely():
    rng = np.random.default_rng(2026)
    campaigns = 200
    random_caught = honest_mixed = honest_only = 0
    for _ in range(campaigns):
        votes, repeats = _campaign(rng, max(LOOKS), {"r": "random", "h1": "honest", "h2": "honest"})
        random_caught += "r" in _flagged_at(votes, repeats, qc.FLAG_WITHIN_SETS)
        honest_mixed += any({"h1", "h2"} & _flagged_at(votes, repeats, n) for n in LOOKS)
        votes, repeats = _campaign(rng, max(LOOKS), {"h0": "honest", "h1": "honest", "h2": "honest"})
        honest_only += any(_flagged_at(votes, repeats, n) for n in LOOKS)
    assert random_caught / campaigns >= 0.9, random_caught  # ~95% by 30 sets in other seeds' runs too
    assert honest_mixed / campaigns <= 0.05 and honest_only / campaigns <= 0.05, (honest_mixed, honest_only)


def test_wilson_lower_bound_matches_the_formula():
    assert qc.wilson_lower(50, 100) == pytest.approx(0.4038, abs=1e-4)
    assert qc.wilson_lower(35, 35) > qc.ONE_LABEL_SHARE > qc.wilson_lower(30, 30)  # 35 of 35: 0.901; 30 of 30: 0.886


def test_an_annotator_who_gives_one_label_to_everything_is_flagged():
    """Always the campaign's commonest label (half of the true labels): it agrees with the others on
    about half of the versions, too often for the agreement flag alone to be quick about it."""
    rng = np.random.default_rng(7)
    caught = []
    for _ in range(50):
        votes, repeats = _campaign(rng, 10, {"b": "always-negative", "h1": "honest", "h2": "honest"})
        caught.append(_flagged_at(votes, repeats, 10))
    assert all("b" in found for found in caught)
    assert sum(bool(found - {"b"}) for found in caught) <= 2  # its partners stay unflagged
    votes = [{"set_id": f"s{i}", "version": "01", "annotator": n, "label": "Similar"} for i in range(40) for n in "abc"]
    assert not any(qc.flags(None, None, None, None, None, use) for use in qc.label_use(votes).values())  # all truly Similar
