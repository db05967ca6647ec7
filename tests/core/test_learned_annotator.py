"""The learned annotator's core: Cohen's kappa, the effective-label distribution, the logistic
regression, features' input checks, and the triage of an export."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from hggt.core.annotation.assignment import assign
from hggt.core.annotation.labels import LABELS, effective_label
from hggt.core.annotator.features import FULL_FEATURES, pair_features
from hggt.core.annotator.model import LogReg, fit
from hggt.core.annotator.scoring import cohen_kappa, effective_proba, skip_curve
from hggt.core.annotator.triage import keep_order, learned_votes, plan


def test_cohen_kappa_matches_the_textbook_example_and_the_definition():
    # 50 items, two raters: 20 both yes, 5 yes/no, 10 no/yes, 15 both no -> kappa 0.4 (p_o 0.7, p_e 0.5)
    a = ["Positive"] * 25 + ["Negative"] * 25
    b = ["Positive"] * 20 + ["Negative"] * 5 + ["Positive"] * 10 + ["Negative"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    rng = np.random.default_rng(3)
    x, y = list(rng.choice(LABELS, 200)), list(rng.choice(LABELS, 200))
    y[:120] = x[:120]
    p_o = np.mean([i == j for i, j in zip(x, y)])
    cx, cy = Counter(x), Counter(y)
    p_e = sum(cx[k] * cy[k] for k in LABELS) / 200**2
    assert cohen_kappa(x, y) == pytest.approx((p_o - p_e) / (1 - p_e))
    assert cohen_kappa(["Similar"] * 5, ["Similar"] * 5) == 1.0 and cohen_kappa([], []) is None


def test_effective_distribution_equals_enumerating_every_vote_triple():
    p = np.array([[0.2, 0.5, 0.3], [0.05, 0.9, 0.05], [0.6, 0.1, 0.3]])
    expected = np.zeros_like(p)
    for triple in itertools.product(range(3), repeat=3):
        winner = LABELS.index(effective_label([LABELS[i] for i in triple])[0])
        expected[:, winner] += np.prod([p[:, i] for i in triple], axis=0)
    assert np.allclose(effective_proba(p, 3), expected) and np.allclose(effective_proba(p, 3).sum(axis=1), 1)


def test_logistic_regression_recovers_known_coefficients_deterministically():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 3)) * [1.0, 5.0, 0.2] + [0.0, 10.0, 1.0]
    true_w = np.array([[2.0, 0.0, -2.0], [0.0, 0.2, 0.0], [5.0, -5.0, 0.0]])
    z = x @ true_w
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    model, record = fit(x, p, ("a", "b", "c"), l2=1e-6)  # soft targets: the exact distributions
    w = model.weights / model.scale[:, None]
    assert np.allclose(w - w.mean(1, keepdims=True), true_w - true_w.mean(1, keepdims=True), atol=0.05)
    assert record["iterations"] < 30
    again, _ = fit(x, p, ("a", "b", "c"), l2=1e-6)
    assert again.to_json() == model.to_json()
    loaded = LogReg.from_json(model.to_json(trained_on="test"))
    assert np.allclose(loaded.proba(x[:50]), model.proba(x[:50]), atol=1e-4)


def test_bad_models_and_bad_pairs_are_refused_with_the_item_named():
    with pytest.raises(ValueError, match="m.json: not JSON"):
        LogReg.from_json(b"{nope", "m.json")
    with pytest.raises(ValueError, match="m.json: not an hggt learned annotator"):
        LogReg.from_json(b'{"format": "x"}', "m.json")
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="set s1 version 02: the version is 16x32"):
        pair_features(img, img[:, :16], "set s1 version 02")
    with pytest.raises(ValueError, match="set s1 version 03: the version must be an 8-bit RGB"):
        pair_features(img, img.astype(np.float32), "set s1 version 03")
    assert set(pair_features(img, img + 3)) == set(FULL_FEATURES)


def test_triage_orders_least_sure_first_skips_confident_sets_and_keeps_the_assignment_balanced():
    ids = [f"s{i}" for i in range(9)]
    p_all = {s: i / 10 for i, s in enumerate(ids)}
    unc = {s: (i * 7) % 9 / 9 for i, s in enumerate(ids)}
    rows = plan(ids, p_all, unc, "uncertainty", 0.65)
    assert [r["set_id"] for r in rows if r["decision"] == "skipped"] == sorted(["s7", "s8"], key=lambda s: -unc[s])
    kept = [r for r in rows if r["decision"] == "annotate"]
    assert [r["set_id"] for r in kept] == sorted((s for s in ids[:7]), key=lambda s: -unc[s])
    assert [r["position"] for r in kept] == list(range(7)) and plan(ids, p_all, unc, "uncertainty", 0.65) == rows
    with pytest.raises(ValueError, match="probability"):
        plan(ids, p_all, unc, "rank", 1.5)
    ordered = [r["set_id"] for r in kept]
    seeded = assign(ordered, ["A", "B", "C", "D"], 3, 4, seed=0)
    mine = keep_order(seeded, ordered)
    by_slot = lambda rows: sorted((r["position"], r["annotator"], r["batch"]) for r in rows)  # noqa: E731
    assert by_slot(mine) == by_slot(seeded)  # the same annotators, batches and loads
    first = {r["position"]: r["set_id"] for r in mine}
    assert [first[p] for p in sorted(first)] == ordered


def test_learned_votes_have_the_predicted_median_as_majority():
    items = [("s", "01"), ("s", "02"), ("s", "03")]
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.1, 0.6]])
    votes = learned_votes(items, proba)
    assert {v["source"] for v in votes} == {"proxy"} and len(votes) == 9
    by_item = {i: [v["label"] for v in votes if (v["set_id"], v["version"]) == i] for i in items}
    assert [effective_label(by_item[i])[0] for i in items] == ["Positive", "Similar", "Negative"]


def test_skip_curve_counts_usable_sets_lost():
    labels = {("a", "01"): "Similar", ("a", "02"): "Similar", ("b", "01"): "Positive", ("b", "02"): "Similar"}
    rows = skip_curve({"a": 0.95, "b": 0.92}, labels, (0.9, 0.93))
    assert rows[0]["skipped_sets"] == 2 and rows[0]["skipped_not_all_similar"] == 1 and rows[0]["error_rate"] == 0.5
    assert rows[1]["skipped_sets"] == 1 and rows[1]["error_rate"] == 0.0
