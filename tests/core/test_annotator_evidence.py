"""How far the learned annotator's numbers can be trusted: Wilson and kappa intervals, the warnings
on too few held-out sets and on training near chance, and temperature calibration (ECE, NLL), each
checked against an independent computation."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from hggt.core.annotation.labels import LABELS
from hggt.core.annotator import DEMO_ANNOTATOR
from hggt.core.annotator import calibration as cal
from hggt.core.annotator.evidence import (
    MIN_HELDOUT_SETS, binomial_tail, chance_warning, heldout_warning, implied_chance, kappa_interval, wilson, with_intervals,
)
from hggt.core.annotator.model import LogReg, softmax
from hggt.core.annotator.training import AnnotatorConfig, train


def test_wilson_interval_matches_published_values_and_the_quadratic_it_solves():
    # Newcombe (1998), method 3: 81/263 -> 0.2553-0.3662; 15/148 -> 0.0624-0.1605; 0/20 -> 0-0.1611
    for k, n, lo, hi in ((81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611)):
        assert wilson(k, n) == pytest.approx((lo, hi), abs=1e-4)
    # The bounds are the p where |k/n - p| = z sqrt(p (1 - p) / n): roots of a quadratic in p.
    z = 1.959964
    for k, n in ((8, 10), (3, 4), (35, 50), (1, 1)):
        ph = k / n
        a, b, c = 1 + z * z / n, -(2 * ph + z * z / n), ph * ph
        roots = sorted(np.roots([a, b, c]).real)
        assert wilson(k, n) == pytest.approx(tuple(roots), abs=1e-9)
    assert wilson(0, 0) is None


def test_kappa_interval_is_cohens_standard_error_interval_at_large_n_and_wilson_mapped_at_small_n():
    # The textbook example (p_o 0.7, p_e 0.5, kappa 0.4); Cohen (1960): se = sqrt(p_o (1 - p_o) / n) / (1 - p_e)
    n = 100_000
    se = math.sqrt(0.7 * 0.3 / n) / 0.5
    lo, hi = kappa_interval(0.7, 0.5, n)
    assert (lo, hi) == pytest.approx((0.4 - 1.959964 * se, 0.4 + 1.959964 * se), abs=1e-4)
    small = kappa_interval(0.7, 0.5, 50)
    w = wilson(35, 50)
    assert small == pytest.approx(((w[0] - 0.5) / 0.5, (w[1] - 0.5) / 0.5)) and small[0] < 0.4 < small[1]
    assert implied_chance(0.7, 0.4) == pytest.approx(0.5) and implied_chance(1.0, 1.0) is None
    row = with_intervals({"items": 50, "accuracy": 0.7, "kappa": 0.4})
    assert row["accuracy_ci"] == pytest.approx(list(w)) and row["kappa_ci"] == pytest.approx(list(small))
    assert with_intervals({"items": 0, "accuracy": None, "kappa": None})["kappa_ci"] is None


def test_too_few_held_out_sets_are_named_with_how_many_are_needed():
    one = heldout_warning(1)
    assert one.startswith("only 1 held-out set (20 needed") and "95% intervals" in one
    assert "only 19 held-out sets" in heldout_warning(19) and heldout_warning(MIN_HELDOUT_SETS) is None


def test_binomial_tail_and_the_near_chance_warning():
    for k, n, p in ((30, 50, Fraction(13, 25)), (0, 10, Fraction(3, 10)), (10, 10, Fraction(9, 10)), (700, 1200, Fraction(14, 25))):
        exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))  # in exact fractions
        assert binomial_tail(k, n, float(p)) == pytest.approx(float(exact), rel=1e-9)
    warning = chance_warning(0.47, 0.52, "Similar", 96)
    assert warning.startswith("train accuracy 47% is no better than always answering Similar (52% of the train versions)")
    assert chance_warning(0.60, 0.52, "Similar", 96) is not None  # 8 points up on 96 items: p = 0.07
    assert chance_warning(0.65, 0.52, "Similar", 96) is None and chance_warning(0.9, 0.56, "Negative", 1048) is None


def _draws(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): a perfectly calibrated predictor."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3)) * 1.5
    p = softmax(z)
    labels = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return z, np.eye(3)[labels]


def test_ece_is_near_zero_when_calibrated_large_when_over_confident_and_a_temperature_fixes_it():
    z, y = _draws(20_000, 0)
    assert cal.expected_calibration_error(softmax(z), y) < 0.01
    over = 3.0 * z  # the same ranking, three times too sure
    assert cal.expected_calibration_error(softmax(over), y) > 0.1
    t = cal.fit_temperature(over, y)
    assert t == pytest.approx(3.0, rel=0.05)
    check = cal.summary(softmax(over), softmax(over / t), y, t)
    assert check["ece_after"] < 0.015 < 0.1 < check["ece_before"] and check["nll_after"] < check["nll_before"]
    assert cal.fit_temperature(0.5 * z, y) == pytest.approx(0.5, rel=0.05)  # under-confident: T < 1
    # The ECE by hand: two bins, |0.9 - 1/2| and |0.5 - 1| weighted 2:1 -> (2 * 0.4 + 0.5) / 3
    proba = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.5, 0.3, 0.2]])
    assert cal.expected_calibration_error(proba, np.eye(3)[[0, 1, 0]]) == pytest.approx((2 * 0.4 + 0.5) / 3)
    # vote shares as targets: the right rate is the share of votes for the top label
    assert cal.expected_calibration_error(proba[:1], np.array([[2 / 3, 1 / 3, 0]])) == pytest.approx(0.9 - 2 / 3)


def test_calibration_sets_are_seeded_by_set_and_too_small_train_sides_keep_temperature_one():
    ids = [f"photo{i}-0-0" for i in range(48)]
    held = cal.calibration_sets(ids)
    assert len(held) == 10 and held == cal.calibration_sets(list(reversed(ids))) and held < set(ids)
    assert cal.too_few_sets(48) is None
    why = cal.too_few_sets(47)
    assert why.startswith("only 47 train sets: too few to hold 20% back for calibration (48 needed)")


def _votes(rng: np.random.Generator, sets: int, signal: bool) -> tuple[list[dict], dict]:
    votes, features = [], {}
    for s in range(sets):
        for v in ("01", "02", "03", "04"):
            f = rng.normal(size=2)
            features[(f"s{s}", v)] = {"log_mean_abs_change": f[0], "log_sharpness_ratio": f[1]}
            for a in "ABC":
                k = (0 if f[1] > 0.5 else 2 if f[1] < -0.5 else 1) if signal and rng.random() > 0.1 else int(rng.integers(3))
                votes.append({"set_id": f"s{s}", "version": v, "annotator": a, "label": LABELS[k]})
    return votes, features


def test_training_warns_on_votes_without_signal_and_fits_a_temperature_on_held_back_sets():
    rng = np.random.default_rng(5)
    noise, features = _votes(rng, 60, signal=False)
    model, record = train(noise, features, AnnotatorConfig(features="proxy"))
    assert record["train_accuracy"] < record["majority_share"] + 0.08
    assert record["warnings"][0].startswith(f"train accuracy {record['train_accuracy']:.0%} is no better than always answering "
                                            f"{record['majority_label']} ({record['majority_share']:.0%}")
    assert record["calibration"]["sets"] == 12 and model.temperature == record["calibration"]["temperature"]
    signal, features = _votes(rng, 60, signal=True)
    model, record = train(signal, features, AnnotatorConfig(features="proxy"))
    assert record["warnings"] == [] and record["train_accuracy"] > 0.8
    small, features = _votes(rng, 20, signal=True)
    model, record = train(small, features, AnnotatorConfig(features="proxy"))
    assert model.temperature == 1.0 and record["warnings"] == [cal.too_few_sets(20)]


def test_the_temperature_is_applied_stored_and_a_version_1_file_still_loads():
    rng = np.random.default_rng(1)
    model = LogReg(("a", "b"), np.zeros(2), np.ones(2), rng.normal(size=(2, 3)), np.zeros(3), temperature=2.5)
    x = rng.normal(size=(5, 2))
    assert np.allclose(model.proba(x), softmax(model.logits(x) / 2.5))
    assert LogReg.from_json(model.to_json()).temperature == 2.5
    old = {**model.to_dict(), "format": "hggt-annotator-logreg/1"}
    del old["temperature"]
    assert LogReg.from_json(json.dumps(old).encode()).temperature == 1.0
    with pytest.raises(ValueError, match="temperature -1.0 is not a positive number"):
        LogReg.from_dict({**model.to_dict(), "temperature": -1.0}, "m.json")


def test_the_shipped_demo_model_carries_its_fitted_temperature_and_calibration():
    data = json.loads(DEMO_ANNOTATOR.read_bytes())
    fitted = data["fit"]["calibration"]
    assert data["temperature"] == fitted["temperature"] and fitted["sets"] >= cal.MIN_CALIBRATION_SETS
    assert fitted["ece_after"] <= fitted["ece_before"] and data["fit"]["warnings"] == []
