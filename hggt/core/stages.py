"""The table of stages: every stage of the pipeline once, in the paper's order, with its flow, the
config section it reads, the manifests it needs and makes, its place in the paper and its device.

What is derived from it: build-dataset's order and what it passes each stage (hggt/flows/build_dataset.py),
`--until` and its checks, the one-line refusal of a command whose inputs are missing (naming the
stage that makes them, hggt/cli/running.py), and the documentation's stage table
(``python -m hggt.core.stages``, which rewrites it in :data:`DOCS_PAGE`). Tests check the Makefile's targets and prefect.yaml's
deployments against it. Adding a stage: its flow module, its task module, its core module, and one
row here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

from hggt.core import catalog


@dataclass(frozen=True)
class StageEntry:
    name: str  # the flow's name, the CLI command (`hggt <name>`), the make target
    flow: str  # "module:function" of its Prefect flow
    makes: str  # what it makes, in the paper's words (docs and the build's stage list)
    paper: str  # where the paper describes it
    config: str | None  # the config section it reads
    reads: tuple[str, ...]  # manifests that must exist before it runs
    writes: tuple[str, ...]  # manifests it writes
    device: Literal["cpu", "gpu"] = "cpu"
    in_build: bool = True  # a step of build-dataset (the others run on a finished dataset)
    # What build-dataset passes it beside the dataset: the photos folder (input), the dataset as its
    # own source (degrade's --input), or nothing.
    build_input: Literal["photos", "source", None] = None
    cpu_shards: bool = False  # its shards run on the build's chosen task runner (threads, processes, Dask)
    make_targets: tuple[str, ...] = ()  # the Makefile's targets for it (default: its name)
    command: str | None = None  # how the docs show its command, when more than `hggt <name>`

    @property
    def targets(self) -> tuple[str, ...]:
        return self.make_targets or (self.name,)


STAGES: tuple[StageEntry, ...] = (
    StageEntry("ingest", "hggt.flows.ingest:ingest_flow", "decoded HR photos; rejected files with reasons", "HR collection", "ingest",
               (), ("images",), build_input="photos", cpu_shards=True),
    StageEntry("patches", "hggt.flows.patches:patches_flow", "512x512 candidates on a jittered grid with texture statistics",
               "Sec. 3.3", "patches", ("images",), ("patches",), cpu_shards=True),
    StageEntry("degrade", "hggt.flows.degrade:degrade_flow", "LQ versions of the textured patches, Table 1 settings 1 and 2",
               "Eq. 1, supp. Table 1", "degrade", ("patches",), ("degradations",), build_input="source", cpu_shards=True),
    StageEntry("train-enhancers", "hggt.flows.train_enhancers:train_enhancers_flow", "RCAN and ELAN enhancers on settings 1 and 2",
               "Sec. 3.2", "enhancers", ("patches",), ("enhancers",), device="gpu"),
    StageEntry("enhance", "hggt.flows.enhance:enhance_flow", "four enhanced versions of every patch", "Sec. 3.2", "enhance",
               ("patches", "enhancers"), ("enhanced",), device="gpu"),
    StageEntry("select", "hggt.flows.select:select_flow", "textured, most-changed patches become annotation sets", "Sec. 3.3",
               "select", ("patches", "enhanced"), ("sets", "set_images")),
    StageEntry("synthesize-lr", "hggt.flows.degrade:synthesize_lr_flow", "fixed x4 LR test inputs of the sets, Table 2",
               "Eq. 1, supp. Table 2", "degrade", ("patches", "sets"), ("lr_test",), build_input="source", cpu_shards=True),
    StageEntry("annotate", "hggt.flows.annotate:annotate_flow",
               "three annotators per set label each version Positive/Similar/Negative (the run pauses until they are done)",
               "Sec. 3.3, supp. Sec. 2", "annotation", ("sets", "set_images"), ("assignments", "votes", "labels"),
               make_targets=("annotate-export", "annotate-serve", "annotate-ingest"), command="hggt annotate export / serve / ingest"),
    StageEntry("split", "hggt.flows.split:split_flow", "Test-100: sets with 2+ positives held out, whole photos at a time",
               "Sec. 5 (Test-100)", "split", ("labels", "sets", "patches"), ("splits",)),
    StageEntry("maps", "hggt.flows.maps:maps_flow", "indication maps of every (positive, negative) pair", "Sec. 4, supp. Sec. 4",
               "maps", ("labels", "set_images"), ("maps",), cpu_shards=True),
    StageEntry("train-sr", "hggt.flows.train_sr:train_sr_flow", "Real-ISR models trained on Ori, Pos or Pos+Neg ground truth",
               "Sec. 4-5", "train_sr", ("labels", "splits", "set_images"), ("runs",), device="gpu", in_build=False,
               command="hggt train-sr --arch ARCH --mode MODE"),
    StageEntry("evaluate", "hggt.flows.evaluate:evaluate_flow", "PSNR, SSIM, LPIPS, DISTS and the artifact rate on the test side",
               "Sec. 5, supp. Table 3", "evaluate", ("runs",), ("metrics",), device="gpu", in_build=False,
               command="hggt evaluate --run RUN_ID [--test-set URL]"),
    StageEntry("report", "hggt.flows.report:report_flow", "an HTML report of the dataset, its labels and its runs", "", None,
               (), (), in_build=False),
)
BY_NAME = {s.name: s for s in STAGES}
BUILD_STAGES = tuple(s.name for s in STAGES if s.in_build)


def maker_of(manifest: str) -> StageEntry | None:
    """The stage that writes a manifest (the first in the paper's order)."""
    return next((s for s in STAGES if manifest in s.writes), None)


def missing_inputs(name: str, exists) -> str | None:
    """Why stage ``name`` cannot run yet, naming the stage (and command) that makes each manifest it
    lacks; None when all are there. ``exists(relpath)`` says whether a dataset file exists."""
    from hggt.core.schemas import MANIFESTS

    lacking = [m for m in BY_NAME[name].reads if not exists(catalog.manifest(m))]
    if not lacking:
        return None
    made = [f"{catalog.manifest(m)} (stage {maker_of(m).name}: `{MANIFESTS[m].produced_by}`)" for m in lacking]
    first = "run it first" if len(made) == 1 else "run those first"
    whole = f", or `hggt build --until {name}`" if BY_NAME[name].in_build else ""
    return f"{name} needs {', '.join(made)}: {first}{whole}"


def docs_table() -> str:
    """The documentation's stage table (in :data:`DOCS_PAGE`, between :data:`BEGIN` and :data:`END`)."""
    lines = ["| step | stage (flow) | command | makes | paper | reads | writes | device |", "|---|---|---|---|---|---|---|---|"]
    for i, s in enumerate(STAGES, 1):
        reads = ", ".join(s.reads) or ("HR photos" if s.build_input == "photos" else "-")
        lines.append(f"| {i if s.in_build else 'after'} | `{s.name}` | `{s.command or 'hggt ' + s.name}` | {s.makes} | {s.paper} "
                     f"| {reads} | {', '.join(s.writes) or '-'} | {s.device} |")
    return "\n".join(lines) + "\n"


DOCS_PAGE = "docs/guide/index.md"  # relative to the repository root
BEGIN, END = f"<!-- stages: generated by python -m hggt.core.stages {DOCS_PAGE} -->\n", "<!-- end of stages -->\n"


def update_docs(path: str = DOCS_PAGE) -> bool:
    """Rewrite the table between the markers; True when it changed."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    new = head + BEGIN + docs_table() + END + tail
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return new != text


if __name__ == "__main__":
    print("updated" if update_docs(*sys.argv[1:2]) else "unchanged")
