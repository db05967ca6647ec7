"""The learned annotator in the report and on the dashboard: its held-out scores (with 95% intervals
and a note when too few sets) beside the baselines and people, a warning for a model that learned no
more than the commonest label, and what --skip-confident saved (annotator-hours) and cost (usable sets that
people would have labelled non-Similar), from annotator_evaluations, triage, votes and assignments."""

from __future__ import annotations

import statistics
from collections import defaultdict

from hggt.core import report_plots as rp
from hggt.core.annotator.evidence import chance_warning, heldout_warning, interval_text, with_intervals
from hggt.core.annotator.scoring import vote_targets
from hggt.core.annotator.training import data_fingerprint, majority, train_votes


def plot_calibration(rows: list[dict]) -> bytes:
    """Reliability diagram: accuracy of the most probable label against its mean confidence per bin."""
    fig = rp._figure(4.2, 3.4)
    ax = fig.add_subplot()
    ax.plot([1 / 3, 1], [1 / 3, 1], color="#999", linestyle="--", linewidth=1, label="calibrated")
    xs, ys = [r["mean_confidence"] for r in rows], [r["accuracy"] for r in rows]
    ax.plot(xs, ys, marker="o", color="#245", label="learned annotator")
    for x, y, r in zip(xs, ys, rows):
        ax.annotate(str(r["items"]), (x, y), textcoords="offset points", xytext=(3, -10), fontsize=7, color="#555")
    ax.set_xlim(0.3, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    rp._style(ax, "Calibration on held-out sets (items per bin)", "mean confidence", "accuracy")
    return rp._svg(fig)


def _seconds_per_set(votes: list[dict]) -> float | None:
    """Median seconds one annotator spends on one set, from the recorded human times."""
    per: dict[tuple[str, str], float] = {}
    for v in votes:
        if v["source"] != "proxy" and v.get("seconds") is not None:
            per[(v["annotator"], v["set_id"])] = v["seconds"]
    return statistics.median(per.values()) if per else None


def _rater(r: dict) -> dict:
    """A rater's held-out scores with their 95% intervals (from the stored accuracy, kappa and items,
    as `hggt annotator evaluate` computes them) and, on too few sets, the warning saying so."""
    ci = with_intervals(r)
    return {"rater": r["row"], "reference": r["reference"], "items": r["items"], "sets": r["sets"], "accuracy": r["accuracy"],
            "accuracy 95% interval": interval_text(ci["accuracy_ci"], True), "Cohen's kappa": r["kappa"],
            "kappa 95% interval": interval_text(ci["kappa_ci"]), "evidence": heldout_warning(r["sets"] or 0)}


def _train_warning(model: dict, tables: dict) -> str | None:
    """The near-chance warning of training, recomputed from the votes it learned from (while they are
    still the same: its data fingerprint)."""
    chosen = train_votes(tables.get("votes") or [], tables.get("splits") or [], model["votes_source"])
    if not chosen or data_fingerprint(chosen) != model["data_fingerprint"]:
        return None
    label, share = majority(vote_targets(chosen)[1])
    return chance_warning(model["train_accuracy"], share, label, model["train_items"])


def annotator_summary(tables: dict) -> dict | None:
    """Rows for the report: the latest evaluated annotator's raters, the skip decision recorded at
    export with the hours it saved, and the held-out cost at that threshold. None without an annotator."""
    models = tables.get("annotators") or []
    evaluations = tables.get("annotator_evaluations") or []
    triage = tables.get("triage") or []
    if not models and not evaluations and not triage:
        return None
    shown = ("annotator_id", "votes_source", "features", "train_sets", "train_items", "train_accuracy")
    out: dict = {"models": [{**{k: m[k] for k in shown}, "warning": _train_warning(m, tables)}
                            for m in sorted(models, key=lambda m: m["created_at"])]}
    latest = max(evaluations, key=lambda r: r["evaluated_at"])["annotator_id"] if evaluations else None
    mine = [r for r in evaluations if r["annotator_id"] == latest]
    out["evaluated"] = latest
    out["raters"] = [_rater(r) for r in mine if r["kind"] == "rater"]
    out["skip_curve"] = [{"P": r["threshold"], "held-out sets": r["sets"], "skipped": r["skipped_sets"],
                          "skipped but not all-Similar": r["skipped_not_all_similar"], "error rate": r["error_rate"],
                          "non-Similar versions lost": r["non_similar_versions_lost"]}
                         for r in sorted((r for r in mine if r["kind"] == "skip"), key=lambda r: r["threshold"])]
    skipped = [r for r in triage if r["decision"] == "skipped"]
    thresholds = sorted({r["threshold"] for r in triage if r["threshold"] is not None})
    per_set = defaultdict(set)
    for a in tables.get("assignments") or []:
        per_set[a["set_id"]].add(a["annotator"])
    annotators = statistics.median(len(v) for v in per_set.values()) if per_set else None
    seconds = _seconds_per_set(tables.get("votes") or [])
    hours = skipped and annotators and seconds and len(skipped) * annotators * seconds / 3600
    at = next((c for c in out["skip_curve"] if thresholds and c["P"] == thresholds[-1]), None)
    out["triage"] = {"sets decided": len(triage), "skipped": len(skipped), "P": thresholds[-1] if thresholds else None,
                     "annotators per set": annotators, "median seconds per set": seconds,
                     "annotator-hours saved": hours if hours else None,
                     "held-out error rate at P": at["error rate"] if at else None,
                     "held-out usable sets lost at P": at["skipped but not all-Similar"] if at else None} if triage else None
    out["why_no_hours"] = (None if not triage or hours else "no set skipped" if not skipped else
                           "no assignments yet" if not annotators else "no human times recorded yet")
    return out
