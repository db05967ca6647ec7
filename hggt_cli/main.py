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

Out = Annotated[str, typer.Option("--out", "-o", help="Dataset folder or fsspec URL (memory://, s3://...) to write to.")]
Input = Annotated[str, typer.Option("--input", "-i", help="Folder, glob or fsspec URL of the HR photos.")]
Preset = Annotated[str, typer.Option("--preset", "-p", help="Config preset: 'paper' (the paper's values) or 'demo' (small crops, fast).")]
Overrides = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config value, e.g. --set patches.step=256 (repeatable)."),
]
ConfigFile = Annotated[Optional[str], typer.Option("--config", "-c", help="YAML/JSON file of config overrides.")]
Workers = Annotated[Optional[int], typer.Option("--workers", "-w", help="Parallel tasks (default: CPU count).")]
Runner = Annotated[Optional[str], typer.Option("--task-runner", help="Where shards run: threads (default), processes or dask.")]
DaskAddress = Annotated[Optional[str], typer.Option("--dask-address", help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786.")]


def _run(flow, workers: int | None, _runner: str | None = None, _dask: str | None = None, **params):
    """Run a flow (with the chosen task runner); any failure becomes a message and exit code 1."""
    from flows._runtime import with_runner

    _preflight(params)
    debug = bool(os.environ.get("HGGT_DEBUG"))
    if not debug:
        _quiet_failures_on_console()
    try:
        return with_runner(flow, _runner, _dask, workers)(**params)
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
    from flows._runtime import resolve_config
    from hggt_core import storage

    try:
        if "preset" in params:
            resolve_config(params["preset"], params.get("overrides"), params.get("config_file"))
        until = params.get("until")
        if until is not None:
            from flows.build_dataset import STAGES

            if until not in STAGES:
                close = difflib.get_close_matches(until, STAGES, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"choose one of {', '.join(STAGES)}"
                raise ValueError(f"unknown stage {until!r}; {hint}")
        source = params.get("input")
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
def ingest(
    input: Input, out: Out, preset: Preset = "paper", set: Overrides = None, config: ConfigFile = None, workers: Workers = None,
    task_runner: Runner = None, dask_address: DaskAddress = None,
):
    """Scan INPUT for png/jpg/jpeg/webp/bmp/tif(f) photos, decode each safely and write images.parquet.

    Unusable files (corrupt, truncated, not images, too small, decompression bombs) are recorded as
    rejected with a reason; the run goes on with the rest.
    """
    from flows.ingest import ingest_flow

    summary = _run(ingest_flow, workers, task_runner, dask_address, input=input, out=out, preset=preset, overrides=set, config_file=config)
    _print_summary("ingest", summary)


@app.command()
def patches(
    out: Out,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Photos to ingest first (skip if already ingested).")] = None,
    preset: Preset = "paper",
    set: Overrides = None,
    config: ConfigFile = None,
    workers: Workers = None,
    task_runner: Runner = None,
    dask_address: DaskAddress = None,
):
    """Cut candidate crops on the paper's jittered grid and compute their texture statistics.

    Writes original/{image}-{row}-{col}.png and patches.parquet; runs ingest first when --input is given.
    """
    from flows.extract_patches import extract_patches_flow

    summary = _run(extract_patches_flow, workers, task_runner, dask_address, out=out, input=input, preset=preset, overrides=set,
                   config_file=config, task_runner=task_runner, dask_address=dask_address)
    _print_summary("patches", summary)


@app.command()
def build(
    input: Input,
    out: Out,
    preset: Preset = "paper",
    set: Overrides = None,
    config: ConfigFile = None,
    workers: Workers = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Stop after this stage (e.g. patches, select).")] = None,
    task_runner: Runner = None,
    dask_address: DaskAddress = None,
):
    """Run the whole pipeline (flow build-dataset) on INPUT, writing the dataset to OUT."""
    from flows.build_dataset import build_dataset_flow

    result = _run(build_dataset_flow, workers, input=input, out=out, preset=preset, overrides=set, config_file=config, until=until,
                  task_runner=task_runner, dask_address=dask_address)
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


Dataset = Annotated[str, typer.Option("--input", "-i", help="Dataset folder or URL holding patches.parquet (the --out of `hggt patches`).")]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Global seed (default: the config's, 0).")]


@app.command()
def degrade(
    input: Dataset,
    out: Out,
    settings: Annotated[str, typer.Option("--settings", help="Comma-separated settings: 1, 2 (Table 1), table2.")] = "1,2",
    samples_per_patch: Annotated[int, typer.Option("--samples-per-patch", "-n", help="LQ samples per patch and setting.")] = 1,
    seed: Seed = None,
    preset: Preset = "paper",
    set: Overrides = None,
    config: ConfigFile = None,
    workers: Workers = None,
    task_runner: Runner = None,
    dask_address: DaskAddress = None,
):
    """Synthesise LQ versions of every texture-passing patch (blur, resize, noise, JPEG; paper Eq. 1).

    Writes lq/setting{S}/{patch}_s{S}_{k}.png and degradations.parquet with every sampled
    parameter, so each image can be regenerated exactly. OUT may be the same folder as INPUT.
    """
    from flows.degrade import degrade_flow

    chosen = [s.strip() for s in settings.split(",") if s.strip()]
    summary = _run(
        degrade_flow, workers, task_runner, dask_address, input=input, out=out, preset=preset, overrides=set, config_file=config,
        settings=chosen, samples_per_patch=samples_per_patch, seed=seed,
    )
    _print_summary("degrade", summary)


@app.command("synthesize-lr")
def synthesize_lr(
    input: Dataset, out: Out, seed: Seed = None, preset: Preset = "paper", set: Overrides = None,
    config: ConfigFile = None, workers: Workers = None,
):
    """Make the fixed x4 LR test inputs of every texture-passing patch with Table 2 degradations.

    Writes lr_test/x4/{patch}.png and lr_test.parquet with every sampled parameter.
    """
    from flows.degrade import synthesize_lr_flow

    summary = _run(synthesize_lr_flow, workers, input=input, out=out, preset=preset, overrides=set, config_file=config, seed=seed)
    _print_summary("synthesize-lr", summary)


@app.command("train-enhancers")
def train_enhancers(
    out: Out,
    hr_folder: Annotated[Optional[str], typer.Option("--hr-folder", help="Train on these HR photos instead of the dataset's ingested images.")] = None,
    versions: Annotated[Optional[str], typer.Option("--versions", help="Comma-separated subset of 01,02,03,04.")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue from the latest compatible checkpoint (default) or start over.")] = True,
    preset: Preset = "paper",
    set: Overrides = None,
    config: ConfigFile = None,
):
    """Train the four enhancers (01 RCAN/setting 1, 02 RCAN/setting 2, 03 ELAN/setting 1, 04 ELAN/setting 2).

    Checkpoints go to OUT/enhancers/<version>/checkpoints/, final EMA weights to
    OUT/enhancers/<version>/model.pt, and a row per enhancer to enhancers.parquet. The perceptual
    loss needs torchvision's VGG19 weights in the torch hub cache (the error says where).
    """
    from flows.train_enhancers import train_enhancers_flow

    chosen = [v.strip() for v in versions.split(",")] if versions else None
    summary = _run(train_enhancers_flow, None, out=out, preset=preset, overrides=set, config_file=config,
                   hr_folder=hr_folder, versions=chosen, resume=resume)
    _print_summary("train-enhancers", summary)


@app.command()
def enhance(out: Out, preset: Preset = "paper", set: Overrides = None, config: ConfigFile = None, workers: Workers = None):
    """Run every trained enhancer on every ingested HR image (tiled) and crop the enhanced versions
    of each patch: OUT/{01..04}/{patch}_{version}.png and enhanced.parquet. Done work is skipped."""
    from flows.enhance import enhance_flow

    summary = _run(enhance_flow, workers, out=out, preset=preset, overrides=set, config_file=config)
    _print_summary("enhance", summary)


@app.command()
def select(
    out: Out,
    top_n: Annotated[Optional[int], typer.Option("--top-n", help="Number of sets to keep (default: all).")] = None,
    min_diff: Annotated[Optional[float], typer.Option("--min-diff", help="Minimum max_k |mean(original - enhanced_k)| on the 0-255 scale.")] = None,
    preset: Preset = "paper",
    set: Overrides = None,
    config: ConfigFile = None,
):
    """Choose the sets to annotate: textured in any version, ranked by how much the enhancers changed them."""
    from flows.enhance import select_flow

    extra = [f"select.top_n={top_n}"] if top_n is not None else []
    extra += [f"select.min_diff={min_diff}"] if min_diff is not None else []
    summary = _run(select_flow, None, out=out, preset=preset, overrides=[*(set or []), *extra], config_file=config)
    _print_summary("select", summary)


@app.command()
def maps(
    out: Out, preset: Preset = "paper", set: Overrides = None, config: ConfigFile = None, workers: Workers = None,
    task_runner: Runner = None, dask_address: DaskAddress = None,
):
    """Indication maps (M_pos, M_neg, M_ind) of every (positive, negative) pair of every usable set
    with a negative, as float16 .npz files, with a Figure-3-style picture per set."""
    from flows.maps import maps_flow

    summary = _run(maps_flow, workers, task_runner, dask_address, out=out, preset=preset, overrides=set, config_file=config)
    _print_summary("maps", summary)


@app.command()
def split(out: Out, preset: Preset = "paper", set: Overrides = None, config: ConfigFile = None):
    """Hold out the test sets: up to split.test_sets sets with two or more positive versions (the
    paper's Test-100 rule), whole source photos at a time; writes manifests/splits.parquet. train-sr
    trains on the train side, evaluate scores the test side."""
    from flows.split import split_flow

    _print_summary("split", _run(split_flow, None, out=out, preset=preset, overrides=set, config_file=config))


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


@app.command("train-sr")
def train_sr(
    out: Out,
    arch: Annotated[str, typer.Option("--arch", help="Generator: rrdb (RRDBNet x4) or swinir (SwinIR x4, real-SR variant).")] = "rrdb",
    mode: Annotated[str, typer.Option("--mode", help="psnr (L1 pretraining), ori (original GT), pos (positive GT), posneg (positive + negative GTs).")] = "posneg",
    init: Annotated[Optional[str], typer.Option("--init", help="GAN modes start from: auto (latest psnr run), none, or a weight file: hggt model.pt, a BasicSR/Real-ESRGAN/ESRGAN .pth (params_ema, params or bare), or .safetensors; its keys must match the generator (read with weights_only=True).")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue from the latest compatible checkpoint.")] = True,
    preset: Preset = "paper",
    set: Overrides = None,
    config: ConfigFile = None,
):
    """Train a Real-ISR model x4 on the labelled sets (SPEC section 7); the run lands in
    OUT/runs/<run_id>/ and runs.parquet. Train --mode psnr first: the GAN modes start from it."""
    from flows.train_sr import train_sr_flow

    summary = _run(train_sr_flow, None, out=out, arch=arch, mode=mode, init=init, resume=resume, preset=preset,
                   overrides=set, config_file=config)
    _print_summary("train-sr", summary)


@app.command()
def evaluate(
    out: Out,
    run: Annotated[str, typer.Option("--run", help="Run id from runs.parquet (hggt train-sr prints it), 'latest', or 'latest:MODE' (e.g. latest:posneg).")],
    test_set: Annotated[Optional[str], typer.Option("--test-set", help="A folder outside the dataset: Test-100-style (images/ and labels/), paired (GT/*.png and LQ/*.png) or GT only (*.png, LQ made once with Table 2); default: the dataset's held-out test split.")] = None,
    split: Annotated[str, typer.Option("--split", help="Side of the dataset's split to score: test (held out) or train (needs --allow-train-sets).")] = "test",
    allow_train_sets: Annotated[bool, typer.Option("--allow-train-sets", help="Debugging only: score the run on sets it may have trained on; the results are marked as such.")] = False,
    preset: Preset = "paper", set: Overrides = None, config: ConfigFile = None, workers: Workers = None,
):
    """Score a trained run: PSNR / SSIM / LPIPS / DISTS against every positive GT of each test image,
    metrics.parquet and the paper's Table 3 for your runs (reports/table3-<test set>.md and .csv).
    Sets the run trained on are refused unless --allow-train-sets."""
    from flows.evaluate import evaluate_flow

    summary = _run(evaluate_flow, workers, out=out, run_id=run, test_set=test_set, preset=preset, overrides=set, config_file=config,
                   split=split, allow_train_sets=allow_train_sets)
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
    from flows.evaluate import compare_flow

    result = _run(compare_flow, None, out=out, runs=runs, images=images, test_set=test_set)
    console.print(f"{result['images']} comparison grids written: {', '.join(result['files'][:3])}{' ...' if len(result['files']) > 3 else ''}")


@app.command()
def report(out: Out, examples: Annotated[int, typer.Option("--examples", help="Example sets and map pictures to show.")] = 6):
    """Write OUT/reports/dataset.html: counts per stage, rejected inputs, labels and agreement,
    example sets, indication maps and the metric tables of the runs, in one self-contained file."""
    from flows.report import report_flow

    result = _run(report_flow, None, out=out, examples=examples)
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
    from flows.export import export_flow

    result = _run(export_flow, None, out=out, run_id=run, enhancer=enhancer, fmt=format, half=half)
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
    from flows.export_dataset import export_dataset_flow

    summary = _run(export_dataset_flow, None, out=out, dest=dest, range_size=range_size)
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
def annotate_export(
    out: Out,
    annotators: Annotated[Optional[str], typer.Option("--annotators", help="Comma-separated names (default A,B,C).")] = None,
    per_set: Annotated[Optional[int], typer.Option("--per-set", help="Different annotators per set (default 3).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Sets per batch (default 1000).")] = None,
    preset: Preset = "paper", set: Overrides = None, config: ConfigFile = None,
    host: ServeHost = None, port: ServePort = None,
):
    """Assign every set to annotators (three different ones each, balanced), fix each set's random
    display order, create the annotation database and print one link with a token per annotator and
    the coordinator's link. On a running campaign, sets new in sets.parquet are added as new batches."""
    from flows.annotate import annotate_export_flow

    names = [n.strip() for n in annotators.split(",") if n.strip()] if annotators else None
    extra = [f"annotation.annotators={json.dumps(names)}"] if names else []
    extra += [f"annotation.per_set={per_set}"] if per_set else []
    extra += [f"annotation.batch_size={batch_size}"] if batch_size else []
    extra += [f"annotation.host={json.dumps(host)}"] if host else []
    extra += [f"annotation.port={port}"] if port else []
    summary = _run(annotate_export_flow, None, out=out, preset=preset, overrides=[*(set or []), *extra], config_file=config,
                   annotators=names)
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
def annotate_add(
    out: Out,
    annotators: Annotated[str, typer.Option("--annotators", help="Comma-separated names of the annotators who join.")],
    preset: Preset = "paper", set: Overrides = None, config: ConfigFile = None,
):
    """Add annotators to a running campaign: they get links and take part in the sets added from
    now on (sets new in sets.parquet are added as new batches now); nobody's token, assignment or vote changes."""
    from flows.annotate import annotate_export_flow

    _annotation_store(out)
    names = [n.strip() for n in annotators.split(",") if n.strip()]
    summary = _run(annotate_export_flow, None, out=out, preset=preset, overrides=set, config_file=config, add_annotators=names)
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
def annotate_ingest(
    out: Out,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="Folder of label files, or the published HGGT dataset (images/, labels/).")] = None,
    preset: Preset = "paper", set: Overrides = None, config: ConfigFile = None,
):
    """Read votes (the app's database in OUT, label files at INPUT) into votes.parquet; aggregate
    them into labels.parquet by the paper's rule and report agreement. Bad files are reported and skipped."""
    from flows.annotate import annotate_ingest_flow

    summary = _run(annotate_ingest_flow, None, out=out, input=input, preset=preset, overrides=set, config_file=config)
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
    from tasks.runs_cleanup import mark_orphaned_runs

    marked = mark_orphaned_runs(out)
    console.print(f"marked Crashed: {len(marked['flow_runs'])} flow runs, {len(marked['task_runs'])} task runs")


@app.command("show-config")
def show_config(preset: Preset = "paper", set: Overrides = None, config: ConfigFile = None):
    """Print the resolved config (preset + overrides) and its hash."""
    from flows._runtime import resolve_config

    try:
        cfg = resolve_config(preset, set, config)
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    json.dump(cfg.model_dump(mode="json"), sys.stdout, indent=2)
    print(f"\nconfig hash: {cfg.hash}")


if __name__ == "__main__":
    app()
