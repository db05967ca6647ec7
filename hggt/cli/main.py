"""`hggt`: one command per pipeline stage. Each command runs the stage's Prefect flow; the results,
annotation and tool commands live in hggt.cli.results, hggt.cli.annotate and hggt.cli.tools."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from hggt.cli.options import DatasetConfig, Execution, Input, Out, Workers, shared_options
from hggt.core import networks
from hggt.core.networks import GENERATOR

from hggt.cli.running import app, console, print_summary, run_flow


def installed_version() -> str:
    """hggt's version: the installed distribution's, else (a source tree run without installing)
    the one pyproject.toml declares, marked as such."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hggt")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        try:
            with open(Path(__file__).resolve().parents[2] / "pyproject.toml", "rb") as f:
                return f"{tomllib.load(f)['project']['version']} (source tree, not installed)"
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hggt {installed_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print hggt's version and exit.")] = False,
):
    pass


@app.command()
@shared_options
def ingest(input: Input, out: Out, dataset: DatasetConfig, execution: Execution):
    """Scan INPUT for png/jpg/jpeg/webp/bmp/tif(f) photos, decode each safely and write images.parquet.

    Unusable files (corrupt, truncated, not images, too small, decompression bombs) are recorded as
    rejected with a reason; the run goes on with the rest.
    """

    summary = run_flow("hggt.flows.ingest:ingest_flow", execution, dataset, input=input, out=out)
    print_summary("ingest", summary)


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

    summary = run_flow("hggt.flows.patches:patches_flow", execution, dataset, out=out, input=input)
    print_summary("patches", summary)


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

    result = run_flow("hggt.flows.build_dataset:build_dataset_flow", execution, dataset, input=input, out=out, until=until)
    from hggt.core.summary import enhancer_counts

    stages = result["stages"]
    rows = {
        "images": stages["ingest"]["ok"],
        "rejected images": stages["ingest"]["rejected"],
        "candidates": stages.get("patches", {}).get("items"),
        "texture-passing crops": stages.get("patches", {}).get("texture_ok"),
        "LQ images (settings 1, 2)": stages.get("degrade", {}).get("items"),
        "x4 LR test inputs": stages.get("synthesize-lr", {}).get("items"),
        **enhancer_counts(stages.get("train-enhancers", {})),  # trained, adopted and declared apart
        "enhanced patches": stages.get("enhance", {}).get("items"),
        "annotation sets": stages.get("select", {}).get("items"),
        "labelled sets (usable)": (f"{stages['annotate']['sets']} ({stages['annotate']['usable_sets']})" if "annotate" in stages else None),
        "indication maps (sets)": (f"{stages['maps']['items']} ({stages['maps']['sets']})" if "maps" in stages else None),
        "rejected later": sum(s.get("rejected", 0) for name, s in stages.items() if name != "ingest"),
        "cached shards": f"{sum(s['shards_cached'] for s in stages.values())} of {sum(s['shards'] for s in stages.values())}",
        "seconds": result["seconds"],
    }
    print_summary("build-dataset", {k: v for k, v in rows.items() if v is not None})
    if stages.get("annotate", {}).get("proxy"):
        console.print("[bold yellow]The labels come from the PROXY annotator (full-reference rules), not from people.[/]")
    console.print(f"Dataset written to [bold]{result['out']}[/] (layout: docs/guide/outputs.md, 'Where outputs land')")


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
    summary = run_flow("hggt.flows.degrade:degrade_flow", execution, dataset, source=input, out=out, settings=chosen, samples_per_patch=samples_per_patch,
                   seed=seed)
    print_summary("degrade", summary)


@app.command("synthesize-lr")
@shared_options
def synthesize_lr(input: DatasetIn, out: Out, seed: Seed = None, dataset: DatasetConfig = None, workers: Workers = None):
    """Make the fixed x4 LR test inputs of every texture-passing patch with Table 2 degradations.

    Writes lr_test/x4/{patch}.png and lr_test.parquet with every sampled parameter.
    """

    summary = run_flow("hggt.flows.degrade:synthesize_lr_flow", Execution(workers=workers), dataset, source=input, out=out, seed=seed)
    print_summary("synthesize-lr", summary)


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
    summary = run_flow("hggt.flows.train_enhancers:train_enhancers_flow", None, dataset, out=out, hr_folder=hr_folder, versions=chosen, resume=resume)
    print_summary("train-enhancers", summary)


@app.command()
@shared_options
def enhance(out: Out, dataset: DatasetConfig, workers: Workers = None):
    """Run every enhancer (trained or declared) on every ingested HR image (tiled) and crop the enhanced versions
    of each patch: OUT/{01..04}/{patch}_{version}.png and enhanced.parquet. Done work is skipped."""

    summary = run_flow("hggt.flows.enhance:enhance_flow", Execution(workers=workers), dataset, out=out)
    print_summary("enhance", summary)


@app.command()
@shared_options
def select(
    out: Out,
    top_n: Annotated[Optional[int], typer.Option("--top-n", help="Number of sets to keep (default: all).")] = None,
    min_diff: Annotated[Optional[float], typer.Option("--min-diff", help="Minimum max_k |mean(original - enhanced_k)| on the 0-255 scale.")] = None,
    dataset: DatasetConfig = None,
):
    """Choose the sets to annotate: textured in any version, ranked by how much the enhancers changed them."""

    summary = run_flow("hggt.flows.select:select_flow", None, dataset, out=out, top_n=top_n, min_diff=min_diff)
    print_summary("select", summary)


@app.command()
@shared_options
def maps(out: Out, dataset: DatasetConfig, execution: Execution):
    """Indication maps (M_pos, M_neg, M_ind) of every (positive, negative) pair of every usable set
    with a negative, as float16 .npz files, with a Figure-3-style picture per set."""

    summary = run_flow("hggt.flows.maps:maps_flow", execution, dataset, out=out)
    print_summary("maps", summary)


@app.command()
@shared_options
def split(out: Out, dataset: DatasetConfig):
    """Hold out the test sets: up to split.test_sets sets with two or more positive versions (the
    paper's Test-100 rule), whole source photos at a time; writes manifests/splits.parquet. train-sr
    trains on the train side, evaluate scores the test side."""

    print_summary("split", run_flow("hggt.flows.split:split_flow", None, dataset, out=out))


def _generator(name: str) -> str:
    if name not in networks.names(GENERATOR):
        raise typer.BadParameter(f"{name!r} is not a Real-ISR generator; choose {networks.choices(GENERATOR)}")
    return name


@app.command("train-sr")
@shared_options
def train_sr(
    out: Out,
    arch: Annotated[str, typer.Option("--arch", callback=_generator, help=f"Generator x4 (hggt.core.networks): {networks.choices(GENERATOR)}.")] = "rrdb",
    mode: Annotated[str, typer.Option("--mode", help="psnr (L1 pretraining), ori (original GT), pos (positive GT), posneg (positive + negative GTs).")] = "posneg",
    init: Annotated[Optional[str], typer.Option("--init", help="GAN modes start from: auto (latest psnr run), none, or a weight file: hggt model.pt, a BasicSR/Real-ESRGAN/ESRGAN .pth (params_ema, params or bare), or .safetensors; its keys must match the generator (read with weights_only=True). psnr: a weight file or none; default train_sr.psnr_init.<arch> (the authors: bicubic-PSNR weights), else random weights.")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue from the latest compatible checkpoint.")] = True,
    dataset: DatasetConfig = None,
):
    """Train a Real-ISR model x4 on the labelled sets (paper Sec. 4-5); the run lands in
    OUT/runs/<run_id>/ and runs.parquet. Train --mode psnr first: the GAN modes start from it."""

    summary = run_flow("hggt.flows.train_sr:train_sr_flow", None, dataset, out=out, arch=arch, mode=mode, init=init, resume=resume)
    print_summary("train-sr", summary)


# The other command groups register themselves on import.
from hggt.cli import annotate, results, tools  # noqa: E402,F401
from hggt.cli.annotator import annotator_app  # noqa: E402

app.add_typer(annotate.annotate_app, name="annotate")
app.add_typer(annotator_app, name="annotator")
app.add_typer(tools.weights_app, name="weights")
app.add_typer(tools.runs_app, name="runs")
app.add_typer(tools.server_app, name="server")


if __name__ == "__main__":
    app()
