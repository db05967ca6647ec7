"""`hggt annotator`: train the learned annotator on a dataset's votes and score it on held-out sets."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

annotator_app = typer.Typer(help="A learned annotator (Positive / Similar / Negative from the votes): train, evaluate.",
                            no_args_is_help=True)

Out = Annotated[str, typer.Option("--out", "-o", help="Dataset folder or fsspec URL.")]
Votes = Annotated[str, typer.Option("--votes", help="Learn from 'human' votes (app, label files, published dataset) or 'proxy' votes.")]


def _fmt(x, pct: bool = False) -> str:
    return "-" if x is None else f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _warn(console, warnings: list[str] | None) -> None:
    for w in warnings or []:
        console.print(f"[yellow]warning[/]: {w}")


@annotator_app.command("train")
def train(
    out: Out,
    votes: Votes = "human",
    features: Annotated[str, typer.Option("--features", help="'full' (residual statistics too) or 'proxy' (the proxy's two features).")] = "full",
    l2: Annotated[float, typer.Option("--l2", help="L2 penalty on the standardised weights.")] = 1e-3,
    iterations: Annotated[int, typer.Option("--iterations", help="Most Newton steps.")] = 50,
    ship: Annotated[Optional[str], typer.Option("--ship", help="Also write the model file here (make demo-annotator ships one).")] = None,
):
    """Fit a multinomial logistic regression on the votes of the train side of the split: input the
    original and one version of a set, output P(Positive / Similar / Negative), with a temperature
    fitted on a fifth of the train sets held back. Writes annotators/<id>/model.json and a row of
    annotators.parquet (config hash, data fingerprint); warns when it learned no more than the commonest label."""
    from hggt.cli.running import console, print_summary, run_flow
    from hggt.core.annotator.calibration import summary_text

    summary = run_flow("hggt.flows.annotator:annotator_train_flow", out=out, features=features, votes=votes, l2=l2, iterations=iterations, ship=ship)
    print_summary("annotator train", {k: v for k, v in summary.items() if k not in ("calibration", "warnings")})
    fitted = summary.get("calibration") or {}
    if fitted.get("sets"):
        console.print(f"On {fitted['sets']} train sets held back from the weights: {summary_text(fitted)}")
    _warn(console, summary.get("warnings"))


@annotator_app.command("evaluate")
def evaluate(
    out: Out,
    annotator: Annotated[str, typer.Option("--annotator", help="'latest', an annotator id, 'demo' (shipped) or a model.json.")] = "latest",
    votes: Annotated[Optional[str], typer.Option("--votes", help="Score against 'human' or 'proxy' labels (default: what it learned from).")] = None,
):
    """Score a learned annotator on the held-out sets (every set of the test photos): accuracy and
    Cohen's kappa with 95% intervals (a warning below 20 sets) against the effective labels, beside
    the proxy rules, "always Similar" and each human against the majority of the others; calibration
    with and without its temperature; what --skip-confident P would have cost."""
    from rich.table import Table

    from hggt.cli.running import console, run_flow
    from hggt.core.annotator.calibration import summary_text
    from hggt.core.annotator.evidence import interval_text

    result = run_flow("hggt.flows.annotator:annotator_evaluate_flow", out=out, annotator=annotator, votes=votes)
    table = Table(title=f"{result['annotator_id']} on {result['heldout_sets']} held-out sets ({result['votes_source']} labels)")
    for col in ("rater", "reference", "items", "accuracy (95% interval)", "Cohen's kappa (95% interval)"):
        table.add_column(col, justify="left" if col in ("rater", "reference") else "right")
    for r in result["raters"]:
        table.add_row(r["rater"], r["reference"], str(r["items"]), f"{_fmt(r['accuracy'], True)} ({interval_text(r['accuracy_ci'], True)})",
                      f"{_fmt(r['kappa'])} ({interval_text(r['kappa_ci'])})")
    console.print(table)
    _warn(console, result["warnings"])
    console.print(f"On the held-out versions: {summary_text(result['calibration_check'])}")
    skip = Table(title="--skip-confident P on the held-out sets")
    for col in ("P", "skipped sets", "of which not all-Similar", "error rate", "non-Similar versions lost"):
        skip.add_column(col, justify="right")
    for c in result["skip"]:
        skip.add_row(f"{c['threshold']:g}", f"{c['skipped_sets']} / {c['sets']}", str(c["skipped_not_all_similar"]),
                     _fmt(c["error_rate"], True), str(c["non_similar_versions_lost"]))
    console.print(skip)
    console.print(f"Details (confusion matrix, calibration): {result['report']}")
