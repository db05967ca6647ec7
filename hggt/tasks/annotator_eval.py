"""Prefect task scoring a learned annotator on held-out sets beside honest baselines: the
rule-based proxy, "always Similar", and each human against the majority of the others."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np
from prefect import task

from hggt.core import catalog, manifests, storage
from hggt.core.annotation.labels import LABELS, effective_label
from hggt.core.annotation.proxy import proxy_votes
from hggt.core.annotator.calibration import one_hot
from hggt.core.annotator.calibration import summary as calibration_summary
from hggt.core.annotator.evidence import MIN_HELDOUT_SETS, heldout_warning, with_intervals
from hggt.core.annotator.features import feature_matrix
from hggt.core.annotator.model import softmax
from hggt.core.annotator.scoring import (
    SKIP_THRESHOLDS, all_similar_probability, calibration, confusion, effective_proba, humans_vs_others, rate, skip_curve,
)
from hggt.core.annotator.training import source_votes
from hggt.core.splits import TRAIN, split_fingerprint
from hggt.tasks.annotator import compute_features, load_annotator

UTC = dt.timezone.utc


def _proxy_labels(features: dict) -> dict:
    """The rule-based proxy's effective labels. Its two inputs are among the learned features (mean
    absolute change, and sharper when the Laplacian-variance ratio is at least 1), so no image is
    decoded twice; its thresholds come from the quantiles over the sets it is shown, as in the demo."""
    described: dict[str, dict[str, tuple[float, bool]]] = {}
    for (s, v), f in features.items():
        described.setdefault(s, {})[v] = (float(np.expm1(f["log_mean_abs_change"])), f["log_sharpness_ratio"] >= 0)
    votes: dict = {}
    for v in proxy_votes(described):
        votes.setdefault((v["set_id"], v["version"]), []).append(v["label"])
    return {item: effective_label(labels)[0] for item, labels in votes.items()}


@task(name="annotator-evaluate", persist_result=False)
def evaluate_task(root: str, which: str = "latest", votes_source: str | None = None) -> dict:
    """Accuracy and Cohen's kappa against the effective labels of the held-out sets (every set of the
    test photos: the split's test and excluded sides, none of which the model trained on), each with
    its 95% interval and a warning below MIN_HELDOUT_SETS sets, the baselines, a confusion matrix,
    calibration (ECE and NLL without and with the temperature) and the cost of --skip-confident at several P."""
    aid, model, row = load_annotator(root, which)
    source = votes_source or (row["votes_source"] if row else "human")
    for name in ("labels", "splits", "votes"):
        if not storage.exists(manifests.manifest_url(root, name)):
            raise ValueError(f"{catalog.manifest(name)} is missing: `{manifests.spec(name).produced_by}` makes it")
    splits = manifests.read(root, "splits").to_pylist()
    if row and row["split_fingerprint"] != split_fingerprint(splits):
        raise ValueError(f"learned annotator {aid} was trained on another split ({row['split_fingerprint']}, now "
                         f"{split_fingerprint(splits)}): it may have seen today's test photos; train it again")
    heldout = {r["set_id"] for r in splits if r["split"] != TRAIN}
    reference = {(r["set_id"], r["version"]): r["effective_label"] for r in manifests.read(root, "labels").to_pylist()
                 if r["source"] == source and r["set_id"] in heldout}
    if not reference:
        raise ValueError(f"no {source}-labelled held-out sets to score on ({len(heldout)} held-out sets in splits.parquet): "
                         "annotate them, or raise split.test_sets and run `hggt split` again")
    wanted: dict[str, list[str]] = {}
    for s, v in sorted(reference):
        wanted.setdefault(s, []).append(v)
    features = compute_features(root, wanted, "annotator-evaluate")
    items = sorted(reference)
    votes = source_votes(manifests.read(root, "votes").to_pylist(), source)
    voters: dict = {}
    for v in votes:
        voters.setdefault((v["set_id"], v["version"]), set()).add(v["annotator"])
    annotators = int(np.median([len(voters.get(i, ())) for i in items])) or 3
    # The model predicts one person's vote; the labels are the effective label of `annotators` votes.
    logits = model.logits(feature_matrix([features[i] for i in items], model.features))
    proba = effective_proba(softmax(logits / model.temperature), annotators)
    predicted = {i: LABELS[int(k)] for i, k in zip(items, proba.argmax(axis=1))}
    effective = f"effective {source} labels"
    raters = [{"rater": f"learned annotator {aid}", "reference": effective, **rate(reference, predicted)},
              {"rater": "proxy rules", "reference": effective, **rate(reference, _proxy_labels(features))},
              {"rater": "always Similar", "reference": effective, **rate(reference, {i: "Similar" for i in items})}]
    if source == "human":
        raters += humans_vs_others(votes, set(items))
    truth = [reference[i] for i in items]
    p_all = all_similar_probability(items, proba)
    recorded = [r["threshold"] for r in manifests.read_or_empty(root, "triage").to_pylist() if r["threshold"] is not None]
    curve = skip_curve(p_all, reference, (*SKIP_THRESHOLDS, *recorded))
    # Calibration against the effective labels, with the logits as fitted (before) and with the temperature (after).
    checked = calibration_summary(effective_proba(softmax(logits), annotators), proba, one_hot(truth), model.temperature)
    result = {"annotator_id": aid, "votes_source": source, "heldout_sets": len(wanted), "items": len(items),
              "min_heldout_sets": MIN_HELDOUT_SETS, "warnings": [w for w in (heldout_warning(len(wanted)),) if w],
              "raters": [with_intervals(r) for r in raters],
              "confusion": {"labels": list(LABELS), "rows_reference_columns_predicted": confusion(truth, [predicted[i] for i in items]).tolist()},
              "calibration": calibration(proba, truth), "calibration_check": checked, "skip": curve}
    fingerprint = hashlib.sha256(json.dumps(sorted(reference.items())).encode()).hexdigest()[:16]
    now = dt.datetime.now(UTC)
    rows = [{"annotator_id": aid, "row": r["rater"], "kind": "rater", "reference": r["reference"], "items": r["items"], "sets": r["sets"],
             "accuracy": r["accuracy"], "kappa": r["kappa"], "votes_source": source, "heldout_fingerprint": fingerprint,
             "evaluated_at": now} for r in raters]
    rows += [{"annotator_id": aid, "row": f"skip@{c['threshold']:g}", "kind": "skip", "reference": effective, "sets": c["sets"],
              "threshold": c["threshold"], "skipped_sets": c["skipped_sets"], "skipped_not_all_similar": c["skipped_not_all_similar"],
              "error_rate": c["error_rate"], "non_similar_versions_lost": c["non_similar_versions_lost"], "votes_source": source,
              "heldout_fingerprint": fingerprint, "evaluated_at": now} for c in curve]
    old = [r for r in manifests.read_or_empty(root, "annotator_evaluations").to_pylist() if r["annotator_id"] != aid]
    manifests.write(root, "annotator_evaluations", manifests.merge("annotator_evaluations", [manifests.to_table("annotator_evaluations", old + rows)]))
    result["report"] = storage.join(root, catalog.annotator_evaluation(aid.replace("/", "_")))
    storage.atomic_write(result["report"], json.dumps(result, indent=1).encode())
    return result
