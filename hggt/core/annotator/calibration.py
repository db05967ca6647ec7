"""Calibration of the learned annotator: one temperature dividing its logits, fitted on train-side
sets the weights did not see, and how far its confidence is from how often it is right.

The weights are fitted by likelihood, so on the items they saw the probabilities look right; whether
they hold on sets the model did not see is what the held-back sets measure, and one temperature
corrects an overall over- (T > 1) or under-confidence (T < 1) without changing any version's most
probable label."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from hggt.core.annotation.labels import LABELS
from hggt.core.annotator.model import softmax

CALIBRATION_SHARE = 0.2  # of the train side's sets, held back from the weights to fit the temperature
CALIBRATION_SALT = "hggt-calibration/1"  # the seed: sets are ordered by the hash of salt and set id
# Fewer held-back sets and the temperature would follow the noise of a handful of photos.
MIN_CALIBRATION_SETS = 10
ECE_BINS = 10  # equal-width bins of the top label's confidence over [1/3, 1], as in the reliability table
NLL_FLOOR = 1e-12  # a probability of 0 for what happened costs -ln(1e-12) = 27.6, not infinity
_LOG_BETA = (math.log(1e-3), math.log(1e2))  # 1/temperature searched between these: T from 0.01 to 1000


def calibration_sets(set_ids: list[str], share: float = CALIBRATION_SHARE) -> set[str]:
    """The ``round(share * n)`` sets held back, first by a salted hash of the set id: the same sets
    for the same votes on any machine, whatever order they come in, and no numpy RNG version in it."""
    ordered = sorted(set(set_ids), key=lambda s: hashlib.sha256(f"{CALIBRATION_SALT}:{s}".encode()).hexdigest())
    return set(ordered[: round(share * len(ordered))])


def too_few_sets(train_sets: int, share: float = CALIBRATION_SHARE) -> str | None:
    """Why no temperature can be fitted on a train side this small, or None."""
    held = round(share * train_sets)
    if held >= MIN_CALIBRATION_SETS and held < train_sets:
        return None
    needed = math.ceil((MIN_CALIBRATION_SETS - 0.5) / share)  # round() reaches MIN_CALIBRATION_SETS from here
    return (f"only {train_sets} train sets: too few to hold {share:.0%} back for calibration ({needed} needed); "
            "temperature kept at 1, so the probabilities may be over-confident")


def one_hot(labels: list[str]) -> np.ndarray:
    return np.eye(len(LABELS))[[LABELS.index(lab) for lab in labels]].reshape(len(labels), len(LABELS))


def nll(proba: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood (nats) of ``targets`` (one-hot labels, or vote shares: then per vote)."""
    return float(-(np.asarray(targets) * np.log(np.clip(proba, NLL_FLOOR, 1.0))).sum(axis=1).mean()) if len(proba) else math.nan


def reliability(proba: np.ndarray, targets: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin of the most probable label: items, mean confidence, and how often that label
    was right (with vote shares as targets: the share of votes for it)."""
    proba, targets = np.asarray(proba, np.float64), np.asarray(targets, np.float64)
    if len(proba) == 0:
        return []
    confidence = proba.max(axis=1)
    right = targets[np.arange(len(proba)), proba.argmax(axis=1)]
    edges = np.linspace(1.0 / len(LABELS), 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            rows.append({"confidence_from": round(float(edges[b]), 3), "confidence_to": round(float(edges[b + 1]), 3),
                         "items": int(sel.sum()), "mean_confidence": float(confidence[sel].mean()), "accuracy": float(right[sel].mean())})
    return rows


def expected_calibration_error(proba: np.ndarray, targets: np.ndarray, bins: int = ECE_BINS) -> float:
    """The items-weighted mean gap between confidence and accuracy over :func:`reliability`'s bins."""
    rows = reliability(proba, targets, bins)
    n = sum(r["items"] for r in rows)
    return sum(r["items"] * abs(r["mean_confidence"] - r["accuracy"]) for r in rows) / n if n else math.nan


def fit_temperature(logits: np.ndarray, targets: np.ndarray, steps: int = 100) -> float:
    """The temperature T minimising the NLL of softmax(logits / T). The NLL is convex in 1/T, so a
    golden-section search over log(1/T) finds its one minimum (clamped to T in [0.01, 1000])."""
    logits, targets = np.asarray(logits, np.float64), np.asarray(targets, np.float64)
    f = lambda log_beta: nll(softmax(logits * math.exp(log_beta)), targets)  # noqa: E731
    lo, hi = _LOG_BETA
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(steps):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
    return 1.0 / math.exp((lo + hi) / 2)


def summary(before: np.ndarray, after: np.ndarray, targets: np.ndarray, temperature: float, bins: int = ECE_BINS) -> dict:
    """ECE and NLL of ``targets`` under the probabilities of the raw logits (before) and of the logits
    divided by ``temperature`` (after)."""
    return {"temperature": temperature, "items": len(targets), "bins": bins,
            "ece_before": expected_calibration_error(before, targets, bins), "ece_after": expected_calibration_error(after, targets, bins),
            "nll_before": nll(before, targets), "nll_after": nll(after, targets)}


def summary_text(check: dict) -> str:
    """One line for people: how far confidence was from being right, before -> after the temperature."""
    return (f"calibration error (ECE, {check['bins']} bins) {check['ece_before']:.3f} -> {check['ece_after']:.3f}, "
            f"NLL {check['nll_before']:.3f} -> {check['nll_after']:.3f}, temperature {check['temperature']:.2f}")
