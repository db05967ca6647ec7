"""`hggt` commands that read what a dataset shows: summary, evaluate, compare, report, export."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from hggt.cli.options import DatasetConfig, Execution, Out, Workers, shared_options

from hggt.cli.running import app, console, print_summary, run_flow


@app.command()
def summary(out: Out):
    """What the dataset shows at a glance: label shares per version, the held-out split, and every
    run scored on the held-out test side, side by side (Table 3 with the artifact rate)."""
    from hggt.core import manifests, storage
    from hggt.core.splits import EXCLUDED, TEST, TRAIN
    from hggt.core.summary import DEMO_TARGETS, demo_misses, held_out_table, label_shares

    root = storage.normalize_root(out)
    try:
        labels = manifests.read(root, "labels").to_pylist()
    except Exception as exc:  # noqa: BLE001 - a dataset without labels has nothing to summarise yet
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    proxy = any(r["source"] == "proxy" for r in labels)
    shares = label_shares(labels)
    grid = Table(title=f"Effective labels per version ({'PROXY annotator' if proxy else 'human votes'})")
    for col in ("version", "Positive", "Similar", "Negative"):
        grid.add_column(col, justify="right")
    for version, row in shares.items():
        grid.add_row(version, *(f"{row[lab]:.1%}" for lab in ("Positive", "Similar", "Negative")))
    console.print(grid)
    if proxy:
        misses = demo_misses(shares["all"])
        targets = ", ".join(f"{lab} >= {t:.0%}" for lab, t in DEMO_TARGETS.items())
        console.print(f"demo targets ({targets}): " + ("[green]met[/]" if not misses else f"[red]missed: {'; '.join(misses)}[/]"))
    splits = manifests.read_or_empty(root, "splits").to_pylist()
    if splits:
        sides = {side: sum(r["split"] == side for r in splits) for side in (TRAIN, TEST, EXCLUDED)}
        console.print(f"held-out split: {sides[TRAIN]} train sets, {sides[TEST]} test sets, {sides[EXCLUDED]} excluded "
                      f"({len({r['image_id'] for r in splits if r['split'] == TEST})} test photos)")
    runs = {r["run_id"]: r for r in manifests.read_or_empty(root, "runs").to_pylist()}
    table = held_out_table(manifests.read_or_empty(root, "metrics").to_pylist(), runs)
    if not table:
        console.print("no run has been evaluated on the held-out test side yet (`hggt evaluate --run latest`)")
        return
    fmt = lambda v, d=3: "n/a" if v is None else f"{v:.{d}f}"  # noqa: E731
    images = sorted({r["images"] for r in table})
    runs_grid = Table(title=f"Runs on the held-out test side ({'/'.join(map(str, images))} images)")
    for col in ("training GT", "run", "PSNR", "SSIM", "LPIPS", "DISTS", "artifact rate"):
        runs_grid.add_column(col, justify="right", no_wrap=col == "run")
    for r in table:
        runs_grid.add_row(r["training GT"].removesuffix(" GT"), r["run"], fmt(r["PSNR"], 2), fmt(r["SSIM"]), fmt(r["LPIPS"]),
                          fmt(r["DISTS"]), fmt(r["artifact rate"]))
    console.print(runs_grid)
    if any(r["iterations"] < 10_000 for r in runs.values()):
        console.print("[yellow]These are tiny runs of a few hundred iterations at most: they show the mechanics (held-out "
                      "split, Pos vs Pos+Neg training, the artifact rate), not the paper's effect, which needs full-size "
                      "models trained for 300k iterations on thousands of human-labelled sets.[/]")


@app.command()
@shared_options
def evaluate(
    out: Out,
    run: Annotated[str, typer.Option("--run", help="Run id from runs.parquet (hggt train-sr prints it), 'latest', or 'latest:MODE' (e.g. latest:posneg).")],
    test_set: Annotated[Optional[str], typer.Option("--test-set", help="A folder outside the dataset: Test-100-style (images/ and labels/), paired (GT/*.png and LQ/*.png) or GT only (*.png, LQ made once with Table 2); default: the dataset's held-out test split.")] = None,
    split: Annotated[str, typer.Option("--split", help="Side of the dataset's split to score: test (held out) or train (needs --allow-train-sets).")] = "test",
    allow_train_sets: Annotated[bool, typer.Option("--allow-train-sets", help="Debugging only: score the run on sets it may have trained on; the results are marked as such.")] = False,
    dataset: DatasetConfig = None, workers: Workers = None,
):
    """Score a trained run: PSNR / SSIM / LPIPS / DISTS against every positive GT of each test image,
    metrics.parquet and the paper's Table 3 for your runs (reports/table3-<test set>.md and .csv).
    Sets the run trained on are refused unless --allow-train-sets."""

    summary = run_flow("hggt.flows.evaluate:evaluate_flow", Execution(workers=workers), dataset, out=out, run_id=run, test_set=test_set, split=split,
                   allow_train_sets=allow_train_sets)
    table = summary.pop("table")
    unscored = summary.pop("reasons", [])
    print_summary("evaluate", summary)
    if unscored:
        console.print(f"{len(unscored)} test images or sets were not scored (e.g. {unscored[0][0]}: {unscored[0][1]}); "
                      "all are listed in manifests/rejected.parquet")
    marked = summary.get("on_training_sets")
    if marked:
        console.print(f"[bold red]NOT HELD OUT[/]: scored with --allow-train-sets on sets the run may have trained on ({marked}); "
                      f"test set '{summary['test_set']}'. Use these numbers for debugging only.")
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    grid = Table(title=f"Table 3 for your runs on '{summary['test_set']}'" + (" (NOT HELD OUT: on training sets)" if marked else ""))
    for col in ("model", "training GT", "run", "images", "PSNR", "SSIM", "LPIPS", "DISTS", "paper P/S/L/D"):
        grid.add_column(col, justify="right")
    for r in table:
        paper = "/".join(fmt(r[f"paper {m}"]) for m in ("PSNR", "SSIM", "LPIPS", "DISTS")) if r["paper PSNR"] else "n/a"
        grid.add_row(r["model"], r["training GT"], r["run"], str(r["images"]), *(fmt(r[m]) for m in ("PSNR", "SSIM", "LPIPS", "DISTS")), paper)
    console.print(grid)
    for metric in summary.get("skipped_metrics", []):
        console.print(f"[yellow]{metric.upper()} skipped[/]: its pretrained weights are missing (`hggt weights status`).")


@app.command()
def compare(
    out: Out,
    runs: Annotated[list[str], typer.Argument(help="Run ids to put side by side.")],
    images: Annotated[int, typer.Option("--images", "-n", help="Number of test images.")] = 4,
    test_set: Annotated[Optional[str], typer.Option("--test-set", help="The test set the runs were evaluated on.")] = None,
):
    """Side-by-side grids of evaluated runs: bicubic, each run's SR, the positive GTs (PNGs in reports/compare/)."""

    result = run_flow("hggt.flows.evaluate:compare_flow", out=out, runs=runs, images=images, test_set=test_set)
    console.print(f"{result['images']} comparison grids written: {', '.join(result['files'][:3])}{' ...' if len(result['files']) > 3 else ''}")


@app.command()
def report(out: Out, examples: Annotated[int, typer.Option("--examples", help="Example sets and map pictures to show.")] = 6):
    """Write OUT/reports/dataset.html: counts per stage, rejected inputs, labels and agreement,
    example sets, indication maps and the metric tables of the runs, in one self-contained file."""

    result = run_flow("hggt.flows.report:report_flow", out=out, examples=examples)
    console.print(f"Report written to [bold]{result['report']}[/] ({result['bytes'] // 1024} KiB)")


@app.command()
def export(
    out: Out,
    run: Annotated[Optional[str], typer.Option("--run", help="Real-ISR run id, or 'latest'.")] = None,
    enhancer: Annotated[Optional[str], typer.Option("--enhancer", help="An enhancer version (01..04) instead of a run.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="safetensors (Spandrel, chaiNNer, ComfyUI) or onnx.")] = "safetensors",
    half: Annotated[bool, typer.Option("--half", help="Store float16 weights (ONNX: a float16 graph).")] = False,
):
    """Export the EMA generator of a run (or an enhancer) to OUT/exports/: safetensors with the
    reference parameter names (Spandrel detects RRDBNet and SwinIR), or ONNX with dynamic sizes."""

    result = run_flow("hggt.flows.export:export_flow", out=out, run_id=run, enhancer=enhancer, fmt=format, half=half)
    console.print(f"Wrote [bold]{result['file']}[/] ({result['bytes'] // 1024} KiB, {result['arch']}, {result['format']})")
    # Every client gets its measured verdict: correct, a different model (wrong output) or not loading.
    for verdict in result.get("clients", ()):
        style = {"loads correctly": "green"}.get(verdict["verdict"], "yellow")
        console.print(f"  [{style}]{escape(verdict['line'])}[/]")


@app.command("export-dataset")
def export_dataset(
    out: Out,
    dest: Annotated[str, typer.Option("--dest", "-d", help="Folder or fsspec URL to write Train/ and Test/ to (not OUT).")],
    range_size: Annotated[int, typer.Option("--range-size", help="Sets per range folder images/<first>-<end>/ (the published Train/ is one folder, 0-20193).")] = 1000,
):
    """Write the labelled dataset in the published HGGT layout for the authors' training and metric
    scripts: DEST/{Train,Test}/images/<range>/{original,01..04}/ and labels/<range>/{A,B,C}/, by the
    split of splits.parquet (run `hggt split` first; excluded sets are left out), the annotator
    behind each letter in DEST/annotators.csv. Re-running skips files that are already identical."""

    summary = run_flow("hggt.flows.export_dataset:export_dataset_flow", out=out, dest=dest, range_size=range_size)
    versions_warning = summary.pop("versions_warning", None)  # said once, below the table
    print_summary("export-dataset", summary)
    if summary["excluded_sets"]:
        console.print(f"{summary['excluded_sets']} sets of test photos that fail the Test-100 rule are excluded from both trees.")
    if summary["proxy_sets"]:
        console.print(f"[bold yellow]{summary['proxy_sets']} exported sets are labelled by the PROXY annotator, not by people.[/]")
    if versions_warning:
        console.print(f"[bold yellow]warning:[/] {escape(versions_warning)}.", soft_wrap=True)
    if summary["sets_without_three_annotators"]:
        console.print(f"[yellow]{summary['sets_without_three_annotators']} sets do not have exactly three annotators; the "
                      "authors' loaders read A, B and C of every set.[/]")
