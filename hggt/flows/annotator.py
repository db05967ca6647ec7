"""Flows of the learned annotator: train it on the train side's votes, score it on held-out sets
(with a confusion matrix, 95% intervals, warnings, calibration and the cost of skipping in the dashboard)."""

from __future__ import annotations

import base64
import time

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from hggt.flows.publish import publish_summary
from hggt.flows.runners import plain_runner
from hggt.core import storage
from hggt.core.annotator.calibration import summary_text
from hggt.core.annotator.evidence import interval_text
from hggt.core.annotator.training import AnnotatorConfig
from hggt.core.report_annotator import plot_calibration
from hggt.tasks.annotator import train_task
from hggt.tasks.annotator_eval import evaluate_task
from hggt.tasks.progress import artifact_key
from hggt.flows.stage import run_name


@flow(name="annotator-train", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def annotator_train_flow(out: str, features: str = "full", votes: str = "human", l2: float = 1e-3, iterations: int = 50,
                         ship: str | None = None) -> dict:
    """Fit the learned annotator on the `votes` (human or proxy) of the train side of the split;
    `ship` also writes the model file there (the demo's shipped model)."""
    started = time.perf_counter()
    root = storage.normalize_root(out)
    cfg = AnnotatorConfig(features=features, votes=votes, l2=l2, iterations=iterations)
    summary = train_task(root, cfg, ship)
    return publish_summary("annotator-train", root, {**summary, "items": summary["train_items"]}, started)


def _publish(result: dict, root: str) -> None:
    labels = result["confusion"]["labels"]
    matrix = result["confusion"]["rows_reference_columns_predicted"]
    create_table_artifact(key=artifact_key("annotator-confusion", root),
                          table=[{"people said": lab, **{f"model: {p}": n for p, n in zip(labels, row)}} for lab, row in zip(labels, matrix)],
                          description=f"learned annotator {result['annotator_id']}: confusion on held-out sets of {root}")
    raters = [{**{k: v for k, v in r.items() if not k.endswith("_ci")},
               "accuracy 95% interval": interval_text(r["accuracy_ci"], True), "kappa 95% interval": interval_text(r["kappa_ci"])}
              for r in result["raters"]]
    create_table_artifact(key=artifact_key("annotator-raters", root), table=raters,
                          description=f"accuracy and Cohen's kappa on held-out sets of {root}, beside the baselines and people"
                                      + "".join(f"; warning: {w}" for w in result["warnings"]))
    create_table_artifact(key=artifact_key("annotator-skip-cost", root), table=result["skip"],
                          description=f"--skip-confident P on held-out sets of {root}: sets skipped, and skipped sets people did not call all-Similar")
    svg = plot_calibration(result["calibration"]) if result["calibration"] else b""
    picture = f"![calibration](data:image/svg+xml;base64,{base64.b64encode(svg).decode()})\n\n" if svg else ""
    rows = "\n".join(f"| {c['confidence_from']:.2f}-{c['confidence_to']:.2f} | {c['items']} | {c['mean_confidence']:.3f} | {c['accuracy']:.3f} |"
                     for c in result["calibration"])
    create_markdown_artifact(key=artifact_key("annotator-calibration", root), description=f"learned annotator calibration on {root}",
                             markdown=f"# Calibration of {result['annotator_id']}\n\n{summary_text(result['calibration_check'])} "
                                      f"(held-out versions, against the effective labels)\n\n{picture}"
                                      f"| confidence | items | mean confidence | accuracy |\n|---|---|---|---|\n{rows}\n")


@flow(name="annotator-evaluate", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def annotator_evaluate_flow(out: str, annotator: str = "latest", votes: str | None = None) -> dict:
    """Score a learned annotator (`latest`, an id, `demo` or a model.json) on the held-out sets."""
    started = time.perf_counter()
    root = storage.normalize_root(out)
    result = evaluate_task(root, annotator, votes)
    _publish(result, root)
    model, check = result["raters"][0], result["calibration_check"]
    summary = {"annotator_id": result["annotator_id"], "votes_source": result["votes_source"], "items": result["items"],
               "heldout_sets": result["heldout_sets"], "accuracy": model["accuracy"], "accuracy_ci": model["accuracy_ci"],
               "kappa": model["kappa"], "kappa_ci": model["kappa_ci"], "temperature": check["temperature"],
               "ece_before": check["ece_before"], "ece_after": check["ece_after"], "warnings": result["warnings"], "report": result["report"]}
    publish_summary("annotator-evaluate", root, summary, started)
    return result


@flow(name="annotator", flow_run_name=run_name, task_runner=plain_runner(), log_prints=True)
def annotator_flow(out: str, features: str = "full", votes: str = "human", l2: float = 1e-3, iterations: int = 50,
                   evaluate: bool = True) -> dict:
    """Train the learned annotator, then (by default) score it on the held-out sets."""
    trained = annotator_train_flow(out=out, features=features, votes=votes, l2=l2, iterations=iterations)
    result = {"train": trained}
    if evaluate:
        result["evaluate"] = annotator_evaluate_flow(out=out, annotator=trained["annotator_id"], votes=votes)
    return result
