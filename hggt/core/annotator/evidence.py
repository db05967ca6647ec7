"""How much a learned annotator's numbers can be trusted: 95% intervals for its held-out accuracy
and kappa, a warning when they rest on too few sets, and one when its training accuracy is no better
than always answering the most common label (votes with no signal the features can see)."""

from __future__ import annotations

import math

from hggt.core.annotation.qc import Z95, wilson_lower, wilson_upper

# Held-out sets below which accuracy and kappa are not reported as bare numbers. Sets, not versions,
# are the independent evidence (a set's versions share a photo). At 20 sets of 4 versions an accuracy
# near 80% is known to +-9 points (Wilson, 95%), at 5 sets to +-17: too wide to rank the model
# against the baselines and people. The paper's test side has 100.
MIN_HELDOUT_SETS = 20
CHANCE_ALPHA = 0.05  # one-sided binomial test: train accuracy above the majority label's share


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion; unlike p +- z*se it stays in [0, 1] and is not empty
    at 0 or n successes. None without trials."""
    return (wilson_lower(successes, n, z), wilson_upper(successes, n, z)) if n > 0 else None


def kappa_interval(observed: float, chance: float, n: int) -> tuple[float, float] | None:
    """95% interval of Cohen's kappa: the Wilson interval of the observed agreement mapped through
    kappa = (p_o - p_e) / (1 - p_e) with the chance agreement p_e held at its observed value. To first
    order its width is Cohen's (1960) standard error, sqrt(p_o (1 - p_o) / n) / (1 - p_e); holding p_e
    fixed leaves out its own noise, so the interval is if anything narrow. None when p_e is 1."""
    bounds = wilson(observed * n, n)
    if bounds is None or chance >= 1.0:
        return None
    return tuple((b - chance) / (1.0 - chance) for b in bounds)


def implied_chance(accuracy: float, kappa: float) -> float | None:
    """The chance agreement p_e that an accuracy and a kappa imply; None at kappa 1 (any p_e fits)."""
    return None if kappa >= 1.0 else (accuracy - kappa) / (1.0 - kappa)


def with_intervals(row: dict) -> dict:
    """A rater row (items, accuracy, kappa) with its ``accuracy_ci`` and ``kappa_ci``: computed from
    those three numbers alone, so the report finds the same intervals in annotator_evaluations."""
    n, accuracy, kappa = row["items"] or 0, row["accuracy"], row["kappa"]
    acc = wilson(accuracy * n, n) if accuracy is not None else None
    chance = implied_chance(accuracy, kappa) if acc and kappa is not None else None
    kap = kappa_interval(accuracy, chance, n) if chance is not None else None
    return {**row, "accuracy_ci": list(acc) if acc else None, "kappa_ci": list(kap) if kap else None}


def interval_text(ci: list[float] | tuple[float, float] | None, percent: bool = False) -> str:
    """'83-95%' for an accuracy, '-0.23 to 0.22' for a kappa (which can be negative); '-' for none."""
    if not ci:
        return "-"
    return f"{100 * ci[0]:.0f}-{100 * ci[1]:.0f}%" if percent else f"{ci[0]:.2f} to {ci[1]:.2f}"


def heldout_warning(sets: int, minimum: int = MIN_HELDOUT_SETS) -> str | None:
    if sets >= minimum:
        return None
    return (f"only {sets} held-out set{'s' if sets != 1 else ''} ({minimum} needed for a firm number): "
            "read accuracy and kappa by their 95% intervals, not as exact values")


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (n can be thousands)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def chance_warning(train_accuracy: float, majority_share: float, majority_label: str, items: int,
                   alpha: float = CHANCE_ALPHA) -> str | None:
    """A warning when the training accuracy is not significantly above the share of the most common
    label (what always answering it would score): a one-sided binomial test at ``alpha``. Training
    accuracy flatters a model, so passing says little; failing says the votes taught it nothing."""
    correct = round(train_accuracy * items)
    if binomial_tail(correct, items, majority_share) < alpha:
        return None
    return (f"train accuracy {train_accuracy:.0%} is no better than always answering {majority_label} "
            f"({majority_share:.0%} of the train versions): the votes may carry nothing the features can see")
