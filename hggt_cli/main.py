"""`hggt`: one command per pipeline stage. Each command runs the stage's Prefect flow."""

from __future__ import annotations

import difflib
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from hggt_cli.options import DatasetConfig, Execution, Input, Out, Overrides, Preset, ConfigFile, Workers, shared_options
from hggt_core import networks
from hggt_core.networks import GENERATOR

# Before Prefect is imported: no usage reports from the CLI's own (ephemeral) server or client,
# which offline log "Failed to send telemetry" on every command. An operator's setting wins.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

app = typer.Typer(
    help=(
        "Build human-guided ground-truth datasets for real-world super-resolution (CVPR 2023 HGGT). "
        "Every command runs a Prefect flow; set PREFECT_API_URL (see `make server`) to watch runs in the dashboard."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

def _run(flow: str, execution: Execution | None = None, dataset: DatasetConfig | None = None, **params):
    """Run the flow ``module:name`` (with the chosen task runner, and the dataset's config options as
    its flat parameters); any failure becomes a message and exit code 1. Mistakes are caught before
    Prefect or the flow's module is imported, and the command joins the shared local server (see
    hggt_cli.local_server) before Prefect reads its settings."""
    import importlib

    from hggt_cli.local_server import connect

    params = {**params, **(dataset.params() if dataset else {})}
    _preflight(params)
    connect(lambda line: console.print(f"[dim]{line}[/]", soft_wrap=True))
    from flows.startup import startup

    startup()
    module, name = flow.split(":")
    flow_obj = getattr(importlib.import_module(module), name)
    from flows.runners import with_runner

    debug = bool(os.environ.get("HGGT_DEBUG"))
    if not debug:
        _quiet_failures_on_console()
    from prefect import tags

    from tasks.runs_cleanup import process_tags

    try:
        with tags(*process_tags()):  # lets a later cleanup see that this process died without reporting
            execution = execution or Execution()
            return with_runner(flow_obj, execution.task_runner, execution.dask_address, execution.workers)(**params)
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into a message and exit code 1
        from hggt_core.manifests import ManifestError

        console.print(f"[bold red]error:[/] {exc or type(exc).__name__}", soft_wrap=True)
        if debug:
            raise
        if not isinstance(exc, (ManifestError, FileNotFoundError, ValueError)):
            console.print("[dim](run with HGGT_DEBUG=1 for the traceback)[/]")
        raise typer.Exit(1) from None


class _FailureLogFilter(logging.Filter):
    """Prefect logs a failing flow run's exception, with its traceback, once per task and flow level
    (9 tracebacks for one missing file); the CLI prints it once itself. Only the console loses
    them: the dashboard's API handler still receives every record. Retry notices stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
            return True
        message = record.getMessage()
        if "Retry " in message:
            return True
        return record.levelno < logging.ERROR and not message.startswith("Finished in state Failed")


def _quiet_failures_on_console() -> None:
    # Prefect's later setup_logging calls are incremental: they keep these handler objects.
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(isinstance(f, _FailureLogFilter) for f in handler.filters):
            handler.addFilter(_FailureLogFilter())


def _preflight(params: dict) -> None:
    """Mistakes found before Prefect starts: one line, exit 1, and no Failed flow run for a typo."""
    from flows.options import apply_options, options_in
    from hggt_core import storage
    from hggt_core.config import resolve_config

    try:
        if "preset" in params:
            resolve_config(params["preset"], apply_options(params.get("overrides"), **options_in(params)), params.get("config_file"))
        until = params.get("until")
        if until is not None:
            from hggt_core.stages import BUILD_STAGES as STAGES

            if until not in STAGES:
                close = difflib.get_close_matches(until, STAGES, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"choose one of {', '.join(STAGES)}"
                raise ValueError(f"unknown stage {until!r}; {hint}")
        for key in ("input", "source", "labels"):  # what the command's --input names, in the flow's words
            source = params.get(key)
            if source and not any(c in source for c in "*?[") and not storage.exists(source):
                raise ValueError(f"input {source} does not exist")
    except (ValueError, FileNotFoundError) as exc:  # pydantic's ValidationError is a ValueError too
        lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "errors.pydantic.dev" not in line]
        console.print(f"[bold red]error:[/] {': '.join(lines[:3])}", soft_wrap=True)
        raise typer.Exit(1) from None


def _print_summary(stage: str, summary: dict) -> None:
    table = Table(title=f"hggt {stage}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key not in ("reasons", "stages"):
            table.add_row(key, str(value))
    console.print(table)
    reasons = summary.get("reasons") or []
    for item, reason in reasons[:20]:
        console.print(f"  [yellow]rejected[/] {item}: {reason}")
    if len(reasons) > 20:
        console.print(f"  ... and {len(reasons) - 20} more (see manifests/rejected.parquet)")


@app.command()
@shared_options
def ingest(input: Input, out: Out, dataset: DatasetConfig, execution: Execution):
    """Scan INPUT for png/jpg/jpeg/webp/bmp/tif(f) photos, decode each safely and write images.parquet.

    Unusable files (corrupt, truncated, not images, too small, decompression bombs) are recorded as
    rejected with a reason; the run goes on with the rest.
    """

    summary = _run("flows.ingest:ingest_flow", execution, dataset, input=input, out=out)
    _print_summary("ingest", summary)


@app.command()
@shared_options
def patches(
    out: Out,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Photos to ingest first (skip if already ingested).")] = None,
    dataset: DatasetConfig = None,
    execution: Execution = None,
):
    """Cut candidate crops on the paper's jittered grid and compute their texture statistics.

    Writes original/{image}-{row}-{col}.png and patches.parquet; runs ingest first when --input is given.
    """

    summary = _run("flows.patches:patches_flow", execution, dataset, out=out, input=input, task_runner=execution.task_runner,
                   dask_address=execution.dask_address)
    _print_summary("patches", summary)


@app.command()
@shared_options
def build(
    input: Input,
    out: Out,
    dataset: DatasetConfig = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Stop after this stage (e.g. patches, select).")] = None,
    execution: Execution = None,
):
    """Run the whole pipeline (flow build-dataset) on INPUT, writing the dataset to OUT."""

    # The shards' runner is the build flow's to apply to its CPU stages; --workers sizes the build's own.
    result = _run("flows.build_dataset:build_dataset_flow", Execution(workers=execution.workers), dataset, input=input, out=out, until=until,
                  task_runner=execution.task_runner, dask_address=execution.dask_address)
    stages = result["stages"]
    rows = {
        "images": stages["ingest"]["ok"],
        "rejected images": stages["ingest"]["rejected"],
        "candidates": stages.get("patches", {}).get("items"),
        "texture-passing crops": stages.get("patches", {}).get("texture_ok"),
        "LQ images (settings 1, 2)": stages.get("degrade", {}).get("items"),
        "x4 LR test inputs": stages.get("synthesize-lr", {}).get("items"),
        "enhancers trained": stages.get("train-enhancers", {}).get("items"),
        "enhanced patches": stages.get("enhance", {}).get("items"),
        "annotation sets": stages.get("select", {}).get("items"),
        "labelled sets (usable)": (f"{stages['annotate']['sets']} ({stages['annotate']['usable_sets']})" if "annotate" in stages else None),
        "indication maps (sets)": (f"{stages['maps']['items']} ({stages['maps']['sets']})" if "maps" in stages else None),
        "rejected later": sum(s.get("rejected", 0) for name, s in stages.items() if name != "ingest"),
        "cached shards": f"{sum(s['shards_cached'] for s in stages.values())} of {sum(s['shards'] for s in stages.values())}",
        "seconds": result["seconds"],
    }
    _print_summary("build-dataset", {k: v for k, v in rows.items() if v is not None})
    if stages.get("annotate", {}).get("proxy"):
        console.print("[bold yellow]The labels come from the PROXY annotator (full-reference rules), not from people.[/]")
    console.print(f"Dataset written to [bold]{result['out']}[/] (layout: see README, 'Where outputs land')")


DatasetIn = Annotated[str, typer.Option("--input", "-i", help="Dataset folder or URL holding patches.parquet (the --out of `hggt patches`).")]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Global seed (default: the config's, 0).")]


@app.command()
@shared_options
def degrade(
    input: DatasetIn,
    out: Out,
    settings: Annotated[str, typer.Option("--settings", help="Comma-separated settings: 1, 2 (Table 1), table2.")] = "1,2",
    samples_per_patch: Annotated[int, typer.Option("--samples-per-patch", "-n", help="LQ samples per patch and setting.")] = 1,
    seed: Seed = None,
    dataset: DatasetConfig = None,
    execution: Execution = None,
):
    """Synthesise LQ versions of every texture-passing patch (blur, resize, noise, JPEG; paper Eq. 1).

    Writes lq/setting{S}/{patch}_s{S}_{k}.png and degradations.parquet with every sampled
    parameter, so each image can be regenerated exactly. OUT may be the same folder as INPUT.
    """

    chosen = [s.strip() for s in settings.split(",") if s.strip()]
    summary = _run("flows.degrade:degrade_flow", execution, dataset, source=input, out=out, settings=chosen, samples_per_patch=samples_per_patch,
                   seed=seed)
    _print_summary("degrade", summary)


@app.command("synthesize-lr")
@shared_options
def synthesize_lr(input: DatasetIn, out: Out, seed: Seed = None, dataset: DatasetConfig = None, workers: Workers = None):
    """Make the fixed x4 LR test inputs of every texture-passing patch with Table 2 degradations.

    Writes lr_test/x4/{patch}.png and lr_test.parquet with every sampled parameter.
    """

    summary = _run("flows.degrade:synthesize_lr_flow", Execution(workers=workers), dataset, source=input, out=out, seed=seed)
    _print_summary("synthesize-lr", summary)


@app.command("train-enhancers")
@shared_options
def train_enhancers(
    out: Out,
    hr_folder: Annotated[Optional[str], typer.Option("--hr-folder", help="Train on these HR photos instead of the dataset's ingested images.")] = None,
    versions: Annotated[Optional[str], typer.Option("--versions", help="Comma-separated subset of the config's versions (paper: 01,02,03,04).")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue from the latest compatible checkpoint (default) or start over.")] = True,
    dataset: DatasetConfig = None,
):
    """Train the config's enhancers (paper: 01 RCAN/setting 1, 02 RCAN/setting 2, 03 ELAN/setting 1,
    04 ELAN/setting 2) and record the declared ones (model files loaded through Spandrel).

    Checkpoints go to OUT/enhancers/<version>/checkpoints/, final weights to
    OUT/enhancers/<version>/model.pt, and a row per enhancer to enhancers.parquet. The perceptual
    loss needs torchvision's VGG19 weights in the torch hub cache (the error says where).
    """

    chosen = [v.strip() for v in versions.split(",")] if versions else None
    summary = _run("flows.train_enhancers:train_enhancers_flow", None, dataset, out=out, hr_folder=hr_folder, versions=chosen, resume=resume)
    _print_summary("train-enhancers", summary)


@app.command()
@shared_options
def enhance(out: Out, dataset: DatasetConfig, workers: Workers = None):
    """Run every trained enhancer on every ingested HR image (tiled) and crop the enhanced versions
    of each patch: OUT/{01..04}/{patch}_{version}.png and enhanced.parquet. Done work is skipped."""

    summary = _run("flows.enhance:enhance_flow", Execution(workers=workers), dataset, out=out)
    _print_summary("enhance", summary)


@app.command()
@shared_options
def select(
    out: Out,
    top_n: Annotated[Optional[int], typer.Option("--top-n", help="Number of sets to keep (default: all).")] = None,
    min_diff: Annotated[Optional[float], typer.Option("--min-diff", help="Minimum max_k |mean(original - enhanced_k)| on the 0-255 scale.")] = None,
    dataset: DatasetConfig = None,
):
    """Choose the sets to annotate: textured in any version, ranked by how much the enhancers changed them."""

    summary = _run("flows.select:select_flow", None, dataset, out=out, top_n=top_n, min_diff=min_diff)
    _print_summary("select", summary)


@app.command()
@shared_options
def maps(out: Out, dataset: DatasetConfig, execution: Execution):
    """Indication maps (M_pos, M_neg, M_ind) of every (positive, negative) pair of every usable set
    with a negative, as float16 .npz files, with a Figure-3-style picture per set."""

    summary = _run("flows.maps:maps_flow", execution, dataset, out=out)
    _print_summary("maps", summary)


@app.command()
@shared_options
def split(out: Out, dataset: DatasetConfig):
    """Hold out the test sets: up to split.test_sets sets with two or more positive versions (the
    paper's Test-100 rule), whole source photos at a time; writes manifests/splits.parquet. train-sr
    trains on the train side, evaluate scores the test side."""

    _print_summary("split", _run("flows.split:split_flow", None, dataset, out=out))


@app.command()
def summary(out: Out):
    """What the dataset shows at a glance: label shares per version, the held-out split, and every
    run scored on the held-out test side, side by side (Table 3 with the artifact rate)."""
    from hggt_core import manifests, storage
    from hggt_core.splits import EXCLUDED, TEST, TRAIN
    from hggt_core.summary import DEMO_TARGETS, demo_misses, held_out_table, label_shares

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


def _generator(name: str) -> str:
    if name not in networks.names(GENERATOR):
        raise typer.BadParameter(f"{name!r} is not a Real-ISR generator; choose {networks.choices(GENERATOR)}")
    return name


@app.command("train-sr")
@shared_options
def train_sr(
    out: Out,
    arch: Annotated[str, typer.Option("--arch", callback=_generator, help=f"Generator x4 (hggt_core.networks): {networks.choices(GENERATOR)}.")] = "rrdb",
    mode: Annotated[str, typer.Option("--mode", help="psnr (L1 pretraining), ori (original GT), pos (positive GT), posneg (positive + negative GTs).")] = "posneg",
    init: Annotated[Optional[str], typer.Option("--init", help="GAN modes start from: auto (latest psnr run), none, or a weight file: hggt model.pt, a BasicSR/Real-ESRGAN/ESRGAN .pth (params_ema, params or bare), or .safetensors; its keys must match the generator (read with weights_only=True).")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue from the latest compatible checkpoint.")] = True,
    dataset: DatasetConfig = None,
):
    """Train a Real-ISR model x4 on the labelled sets (SPEC section 7); the run lands in
    OUT/runs/<run_id>/ and runs.parquet. Train --mode psnr first: the GAN modes start from it."""

    summary = _run("flows.train_sr:train_sr_flow", None, dataset, out=out, arch=arch, mode=mode, init=init, resume=resume)
    _print_summary("train-sr", summary)


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

    summary = _run("flows.evaluate:evaluate_flow", Execution(workers=workers), dataset, out=out, run_id=run, test_set=test_set, split=split,
                   allow_train_sets=allow_train_sets)
    table = summary.pop("table")
    unscored = summary.pop("reasons", [])
    _print_summary("evaluate", summary)
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

    result = _run("flows.evaluate:compare_flow", out=out, runs=runs, images=images, test_set=test_set)
    console.print(f"{result['images']} comparison grids written: {', '.join(result['files'][:3])}{' ...' if len(result['files']) > 3 else ''}")


@app.command()
def report(out: Out, examples: Annotated[int, typer.Option("--examples", help="Example sets and map pictures to show.")] = 6):
    """Write OUT/reports/dataset.html: counts per stage, rejected inputs, labels and agreement,
    example sets, indication maps and the metric tables of the runs, in one self-contained file."""

    result = _run("flows.report:report_flow", out=out, examples=examples)
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

    result = _run("flows.export:export_flow", out=out, run_id=run, enhancer=enhancer, fmt=format, half=half)
    console.print(f"Wrote [bold]{result['file']}[/] ({result['bytes'] // 1024} KiB, {result['arch']}, {result['format']})")


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

    summary = _run("flows.export_dataset:export_dataset_flow", out=out, dest=dest, range_size=range_size)
    _print_summary("export-dataset", summary)
    if summary["excluded_sets"]:
        console.print(f"{summary['excluded_sets']} sets of test photos that fail the Test-100 rule are excluded from both trees.")
    if summary["proxy_sets"]:
        console.print(f"[bold yellow]{summary['proxy_sets']} exported sets are labelled by the PROXY annotator, not by people.[/]")
    if summary["sets_without_three_annotators"]:
        console.print(f"[yellow]{summary['sets_without_three_annotators']} sets do not have exactly three annotators; the "
                      "authors' loaders read A, B and C of every set.[/]")


weights_app = typer.Typer(help="Pretrained weights (VGG19, AlexNet for LPIPS, VGG16 and DISTS): what is present, and fetching.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("status")
def weights_status():
    """List the pretrained weights hggt can use, where it looks for them and which are present."""
    from hggt_core.weights import status

    grid = Table(title="pretrained weights (torch hub cache)")
    for col in ("name", "present", "size", "used for", "path"):
        grid.add_column(col)
    rows = status()
    for r in rows:
        grid.add_row(r["name"], "[green]yes[/]" if r["present"] else "[red]missing[/]", r["size"], r["used_for"], r["path"])
    console.print(grid)


@weights_app.command("fetch")
def weights_fetch(names: Annotated[Optional[list[str]], typer.Argument(help="Which (default: all missing).")] = None):
    """Download weights into the torch hub cache (needs internet; nothing else in hggt downloads)."""
    from hggt_core.weights import KNOWN, fetch, status

    wanted = names or [r["name"] for r in status() if not r["present"]]
    unknown = set(wanted) - set(KNOWN)
    if unknown:
        console.print(f"[bold red]error:[/] unknown weights {sorted(unknown)}; choose from {sorted(KNOWN)}")
        raise typer.Exit(2)
    for name in wanted:
        try:
            console.print(f"{name}: {fetch(name)}")
        except OSError as exc:
            console.print(f"[bold red]error:[/] could not download {name}: {exc}")
            raise typer.Exit(1) from None


annotate_app = typer.Typer(help="Human annotation: export sets to annotators, serve the browser app, ingest votes.", no_args_is_help=True)
app.add_typer(annotate_app, name="annotate")
from hggt_cli.annotator import annotator_app  # noqa: E402 - the learned annotator's commands, in their own module

app.add_typer(annotator_app, name="annotator")


def _annotation_store(out: str):
    from hggt_core import storage as st
    from hggt_core.annotation.store import store_for

    store = store_for(st.normalize_root(out))
    if not store.exists():
        console.print("[bold red]error:[/] nothing exported yet: run `hggt annotate export` first")
        raise typer.Exit(1)
    return store


def _print_export(summary: dict, host: str, port: int) -> None:
    from hggt_app.serve import admin_link, annotator_links

    for name, link in annotator_links(summary["tokens"], host, port).items():
        console.print(f"  {name}: {link}")
    if summary.get("admin_token"):
        console.print(f"Coordinator's page (read-only; keep this link to yourself): {admin_link(summary['admin_token'], host, port)}")


def _served_at(out: str, host: str | None, port: int | None) -> tuple[str, int]:
    from hggt_app.serve import app_settings

    saved = app_settings(_annotation_store(out))
    return host or saved.get("host", "127.0.0.1"), port or saved.get("port", 8765)


ServeHost = Annotated[Optional[str], typer.Option("--host", help="Address the app is served on (default: annotation.host, 127.0.0.1).")]
ServePort = Annotated[Optional[int], typer.Option("--port", help="Port the app is served on (default: annotation.port, 8765).")]


@annotate_app.command("export")
@shared_options
def annotate_export(
    out: Out,
    annotators: Annotated[Optional[str], typer.Option("--annotators", help="Comma-separated names (default A,B,C).")] = None,
    per_set: Annotated[Optional[int], typer.Option("--per-set", help="Different annotators per set (default 3).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Sets per batch (default 1000).")] = None,
    dataset: DatasetConfig = None,
    host: ServeHost = None, port: ServePort = None,
    order: Annotated[str, typer.Option("--order", help="'rank' (sets.parquet's order) or 'uncertainty' (the learned annotator's least sure first).")] = "rank",
    skip_confident: Annotated[Optional[float], typer.Option("--skip-confident", help="Leave out sets the learned annotator calls all-Similar with probability above P (recorded in triage.parquet).")] = None,
    annotator: Annotated[str, typer.Option("--annotator", help="Learned annotator for --order/--skip-confident: 'latest', an id, 'demo' or a model.json.")] = "latest",
):
    """Assign every set to annotators (three different ones each, balanced), fix each set's random
    display order, create the annotation database and print one link with a token per annotator and
    the coordinator's link. On a running campaign, sets new in sets.parquet are added as new batches."""

    names = [n.strip() for n in annotators.split(",") if n.strip()] if annotators else None
    # 0 or "" leave the config's value, as they always have
    summary = _run("flows.annotate:annotate_export_flow", None, dataset, out=out, annotators=names or None, per_set=per_set or None,
                   batch_size=batch_size or None, host=host or None, port=port or None, order=order, skip_confident=skip_confident,
                   annotator=annotator)
    if summary.get("skipped_sets"):
        console.print(f"{summary['skipped_sets']} sets left out: learned annotator {summary['learned_annotator']} calls them all-Similar "
                      f"with probability above {skip_confident} (manifests/triage.parquet)")
    if (host or port) and not summary["created"]:  # a new address for a running campaign
        from hggt_app.serve import app_settings, write_app_settings

        store = _annotation_store(out)
        saved = app_settings(store)
        write_app_settings(store, host or saved.get("host", "127.0.0.1"), port or saved.get("port", 8765), saved.get("allowed_hosts", []))
    host, port = _served_at(out, host, port)
    if not summary["created"]:
        added = f"; {summary['added_sets']} new sets added as new batches" if summary["added_sets"] else ""
        console.print(f"Already exported for {', '.join(summary['annotators'])}; tokens, assignments and votes are kept{added}. "
                      "`hggt annotate tokens` issues new links, `hggt annotate add` adds annotators.")
        return
    console.print(f"{summary['sets']} sets for {len(summary['annotators'])} annotators in {summary['batches']} batches; "
                  f"sets per annotator: {summary['loads']}; {summary['repeats']} repeated sets for quality control")
    console.print("Send each annotator their link (also in annotation/tokens.txt, readable by you only):")
    _print_export(summary, host, port)


@annotate_app.command("add")
@shared_options
def annotate_add(
    out: Out,
    annotators: Annotated[str, typer.Option("--annotators", help="Comma-separated names of the annotators who join.")],
    dataset: DatasetConfig = None,
):
    """Add annotators to a running campaign: they get links and take part in the sets added from
    now on (sets new in sets.parquet are added as new batches now); nobody's token, assignment or vote changes."""

    _annotation_store(out)
    names = [n.strip() for n in annotators.split(",") if n.strip()]
    summary = _run("flows.annotate:annotate_export_flow", None, dataset, out=out, add_annotators=names)
    console.print(f"Added {', '.join(summary['added_annotators'])}; {summary['added_sets']} new sets assigned; "
                  f"sets per annotator: {summary['loads']}")
    _print_export({**summary, "admin_token": None}, *_served_at(out, None, None))


@annotate_app.command("tokens")
def annotate_tokens(
    out: Out, host: ServeHost = None, port: ServePort = None,
    admin: Annotated[bool, typer.Option("--admin", help="Only issue a new coordinator link.")] = False,
):
    """Issue new links for every annotator (old ones stop working, votes are kept) and the coordinator."""
    from tasks.annotation import write_admin_token, write_tokens

    store = _annotation_store(out)
    tokens = {} if admin else store.reissue_tokens()
    if tokens:
        write_tokens(store, tokens)
    admin_token = store.issue_admin_token()
    write_admin_token(store, admin_token)
    _print_export({"tokens": tokens, "admin_token": admin_token}, *_served_at(out, host, port))


@annotate_app.command("serve")
def annotate_serve(
    out: Out, host: ServeHost = None, port: ServePort = None,
    allowed_host: Annotated[Optional[list[str]], typer.Option("--allowed-host", help="Another host name the app is reached by (repeatable).")] = None,
):
    """Serve the annotation app (without torch or Prefect: it starts fast and stays small).
    Annotators open their link; votes go to OUT/annotation/votes.sqlite as they submit."""
    from hggt_app.serve import app_settings, run

    store = _annotation_store(out)
    saved = app_settings(store)
    host, port = _served_at(out, host, port)
    run(store, host, port, [*saved.get("allowed_hosts", []), *(allowed_host or [])], print_fn=console.print)


@annotate_app.command("status")
def annotate_status(out: Out, as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False):
    """Where the campaign stands: per annotator sets done, time per set, agreement with the majority so
    far, quality control and last activity; per batch completion; Fleiss' kappa so far. Read-only."""
    from hggt_cli.annotate_status import print_status

    print_status(_annotation_store(out), console, as_json)


@annotate_app.command("ingest")
@shared_options
def annotate_ingest(
    out: Out,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Folder of label files, or the published HGGT dataset (images/, labels/).")] = None,
    dataset: DatasetConfig = None,
):
    """Read votes (the app's database in OUT, label files at INPUT) into votes.parquet; aggregate
    them into labels.parquet by the paper's rule and report agreement. Bad files are reported and skipped."""

    summary = _run("flows.annotate:annotate_ingest_flow", None, dataset, out=out, labels=input)
    report = summary.pop("report")
    _print_summary("annotate ingest", summary)
    for source, r in report.items():
        kappa = "n/a" if r["fleiss_kappa"] is None else f"{r['fleiss_kappa']:.3f}"
        ds = r["dawid_skene"]["agreement_with_paper_rule"]
        console.print(f"{source} votes: Fleiss' kappa {kappa}; Dawid-Skene agrees with the paper's rule on "
                      f"{'n/a' if ds is None else f'{100 * ds:.1f}%'} of versions; labels {r['label_proportions']}")


@app.command("sample-photos")
def sample_photos(dest: Annotated[Path, typer.Argument(help="Folder to copy the bundled photos into.")]):
    """Copy the colour photos that scikit-image ships (no download) into DEST, for the demo."""
    from hggt_core.sample_photos import sample_photo_paths

    dest.mkdir(parents=True, exist_ok=True)
    for path in sample_photo_paths():
        target = dest / path.name
        if not target.exists():
            shutil.copyfile(path, target)
    console.print(f"{len(sample_photo_paths())} photos in {dest}")


runs_app = typer.Typer(help="Prefect runs of your datasets.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("cleanup")
def runs_cleanup(
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Only the runs of this dataset (default: every dataset).")] = None,
):
    """Mark Crashed the subflows and task runs left Running or Pending under a run whose process was killed."""
    from hggt_cli.local_server import connect

    connect(lambda line: console.print(f"[dim]{line}[/]", soft_wrap=True))
    from tasks.runs_cleanup import mark_orphaned_runs

    marked = mark_orphaned_runs(out)
    console.print(f"marked Crashed: {len(marked['flow_runs'])} flow runs, {len(marked['task_runs'])} task runs")


server_app = typer.Typer(help="The local Prefect server that hggt commands share (started by the first one).", no_args_is_help=True)
app.add_typer(server_app, name="server")


@server_app.command("status")
def server_status():
    """Where the shared local server runs, or which server the commands use instead."""
    from hggt_cli import local_server

    if local_server.operator_api_url():
        console.print(f"commands use the configured server {local_server.operator_api_url()} (PREFECT_API_URL)")
        return
    state = local_server.running()
    if state is None:
        console.print("no local server runs; the next stage command starts one")
        raise typer.Exit(1)
    console.print(f"local server pid {state['pid']}: dashboard {state['dashboard']}, API {state['api_url']}, "
                  f"stops after {local_server.idle_seconds():.0f} s without a command")


@server_app.command("start")
def server_start():
    """Start the shared local server now (stage commands start it themselves)."""
    from hggt_cli import local_server

    if os.environ.get("HGGT_LOCAL_SERVER") == "0" or local_server.operator_api_url():
        console.print("[bold red]error:[/] a configured server (PREFECT_API_URL) or HGGT_LOCAL_SERVER=0 is in effect; nothing to start")
        raise typer.Exit(1)
    url = local_server.connect(lambda line: console.print(line, soft_wrap=True))
    if url is None:
        raise typer.Exit(1)
    console.print(f"local server answers at {url}")


@server_app.command("stop")
def server_stop():
    """Stop the shared local server (runs and their history stay in the Prefect database)."""
    from hggt_cli import local_server

    state = local_server.stop()
    console.print(f"stopped the local server (pid {state['pid']}, {state['dashboard']})" if state else "no local server was running")


@app.command("show-config")
def show_config(preset: Preset = "paper", overrides: Overrides = None, config: ConfigFile = None):
    """Print the resolved config (preset + overrides) and its hash."""
    from hggt_core.config import resolve_config

    try:
        cfg = resolve_config(preset, overrides, config)
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    json.dump(cfg.model_dump(mode="json"), sys.stdout, indent=2)
    print(f"\nconfig hash: {cfg.hash}")


if __name__ == "__main__":
    app()
