"""The dataset report's inputs and its tables: counts, stage runs, runs, Table 3 with the reason
beside every missing number, and what a dataset built only part of the way lacks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hggt.core import catalog
from hggt.core.config import PatchConfig
from hggt.core.evaluation import BICUBIC, table3
from hggt.core.schemas import MANIFESTS


@dataclass(frozen=True)
class NA:
    """A number that is not there, with why: ``short`` beside it, ``full`` under the table."""

    short: str
    full: str


@dataclass
class ExampleSet:
    set_id: str
    images: dict[str, bytes]  # file -> PNG/JPEG bytes: original, 01..04
    labels: dict[str, tuple[str, int]]  # version -> (effective label, votes)
    photo: str = ""
    category: str = ""
    diffs: dict[str, float] = field(default_factory=dict)  # version -> mean_abs_diff


@dataclass
class ReportInputs:
    name: str  # the dataset's folder name
    root: str
    tables: dict[str, list[dict] | None]  # manifest rows; None: the manifest is missing or unreadable
    problems: dict[str, str] = field(default_factory=dict)  # manifest -> why it could not be read
    agreement: dict = field(default_factory=dict)  # annotation/agreement.json
    examples: list[ExampleSet] = field(default_factory=list)
    map_figures: list[tuple[str, str, bytes]] = field(default_factory=list)  # set, caption, JPEG
    map_tops: dict[str, float] = field(default_factory=dict)  # set -> the top of its map picture's colour scale
    losses: dict[str, list[dict] | str] = field(default_factory=dict)  # run or enhancer -> loss rows, or why there are none
    unavailable: dict[str, str] = field(default_factory=dict)  # deep metric -> why its weights are missing now
    missing_weights: list[dict] = field(default_factory=list)  # every weight file a deep metric lacks (hggt.core.metrics.missing_weights)
    notes: list[str] = field(default_factory=list)

    @property
    def thresholds(self) -> dict[str, float]:
        """The texture thresholds of the latest patch extraction (its recorded config), else the defaults."""
        runs = sorted((r for r in self.tables.get("stage_runs") or [] if r["stage"] == "patches"), key=lambda r: r["started_at"])
        if runs:
            patches = json.loads(runs[-1]["config_json"]).get("patches", {})
            if "min_gray_std" in patches and "min_laplacian_var" in patches:
                return {k: float(patches[k]) for k in ("min_gray_std", "min_laplacian_var")} | {"recorded": True}
        d = PatchConfig()
        return {"min_gray_std": d.min_gray_std, "min_laplacian_var": d.min_laplacian_var, "recorded": False}


def thresholds_note(d: ReportInputs) -> str:
    t = d.thresholds
    where = "as recorded by the latest `hggt patches` run" if t["recorded"] else "the defaults: no patches stage run is recorded"
    return (f"A crop is kept when gray_std >= {t['min_gray_std']:g} and lap_var >= {t['min_laplacian_var']:g} "
            f"(dashed lines; {where}).")


def missing(d: ReportInputs, names) -> list[str]:
    """What each absent manifest among ``names`` means for the section, and the command that makes it."""
    return [d.problems.get(n) or f"{catalog.manifest(n)} is missing: `{MANIFESTS[n].produced_by}` makes it."
            for n in names if d.tables.get(n) is None]


_COUNTS = (("candidate crops", "patches"), ("LQ images", "degradations"), ("LR test inputs", "lr_test"), ("enhancers", "enhancers"),
           ("enhanced crops", "enhanced"), ("annotation sets", "sets"), ("votes", "votes"), ("labelled versions", "labels"),
           ("indication maps", "maps"), ("Real-ISR runs", "runs"), ("metric rows", "metrics"))


def counts(d: ReportInputs) -> list[tuple[str, object]]:
    def n(name: str) -> object:
        rows = d.tables.get(name)
        if rows is None:
            return "unreadable (see its section)" if name in d.problems else f"not built: `{MANIFESTS[name].produced_by}`"
        return len(rows)

    images = d.tables.get("images")
    out: list[tuple[str, object]] = []
    if images is None:
        out.append(("images", n("images")))
    else:
        ok = sum(r["status"] == "ok" for r in images)
        published = sum(r["status"] == "published" for r in images)  # photos known only by their published crops
        out += [("images (ok)", ok), ("images (rejected)", len(images) - ok - published)]
        if published:
            out.append(("images (published crops only)", published))
    for label, name in _COUNTS:
        out.append((label, n(name)))
        if name == "patches" and d.tables.get("patches") is not None:
            out.append(("texture-passing crops", sum(bool(r["texture_ok"]) for r in d.tables["patches"])))
    if d.tables.get("labels") is not None:
        out.append(("usable sets", len({r["set_id"] for r in d.tables["labels"] if r["usable"]})))
    return out


DECLARED = "declared"  # enhancers.parquet's kind of a model file loaded through Spandrel


def enhancer_origin(row: dict) -> str:
    """How an enhancer came to be, in the report's words: 'declared' (a model file adopted as it
    is, never trained by hggt), 'trained' here, or 'adopted' ready-made (enhancers.pretrained)."""
    if row.get("kind") == DECLARED:
        return "declared (adopted from a file, not trained)"
    return "trained" if row.get("source") in (None, "trained") else "adopted (trained by hggt elsewhere)"


def latest_stage_runs(d: ReportInputs) -> list[dict]:
    latest = {}
    for r in sorted(d.tables.get("stage_runs") or [], key=lambda r: r["started_at"]):
        latest[r["stage"]] = {"stage": r["stage"], "started": str(r["started_at"])[:19], "seconds": round(r["seconds"], 1),
                              "items": r["items"], "rejected": r["rejected"], "cached shards": f"{r['shards_cached']}/{r['shards']}",
                              "config": r["config_hash"], "state": r.get("state") or "completed"}
    return list(latest.values())


_LOSSES = ("l1", "perceptual", "gan", "negative", "d_real", "d_fake")


def runs_table(d: ReportInputs) -> list[dict]:
    """One row per Real-ISR run; a loss a run does not have is a dash (not part of its objective).
    The split fingerprint is cut to 10 characters, enough to tell splits apart in one dataset."""
    out = []
    for r in sorted(d.tables.get("runs") or [], key=lambda r: r["created_at"]):
        fp = r.get("split_fingerprint") or NA("before the split", "the run was trained before the held-out split existed (no split "
                                                                   "fingerprint): retrain it with `hggt train-sr` to score it on the test side")
        speed = r.get("iterations_per_s")
        out.append({
            "run": r["run_id"], "arch": r["arch"], "mode": r["mode"], "iterations": r["iterations"], "init from": r.get("init_run"),
            "split": fp[:10] if isinstance(fp, str) else fp, "sets": r["sets"], **{f"final {k}": r.get(f"final_{k}") for k in _LOSSES},
            "iterations/s": speed if speed is not None else NA("not measured", "trained before hggt recorded training speed"),
            "device": r.get("device"), "trained": str(r["created_at"])[:10],
        })
    return out


def _reason(column: str, row: dict, unavailable: dict[str, str]) -> NA:
    metric = column.lower()
    if column.startswith("paper "):
        if row["run"] == BICUBIC:
            return NA("not in the paper", "supplement Table 3 has no bicubic row; the bicubic row is computed here only")
        return NA("not in the paper", f"the paper reports no {row['model']} trained on {row['training GT']} (supplement Table 3)")
    if metric in ("lpips", "dists"):
        if metric in unavailable:
            return NA("weights missing", f"{column} skipped: its pretrained weights are missing (what to do: the note under the table)")
        return NA("not computed", f"{column} was not computed when {row['run']} was evaluated (its weights were missing then); "
                                  "re-run `hggt evaluate` to fill it in")
    if column == "artifact rate":
        return NA("no negatives", "no test image of this run has an annotated negative, and the artifact rate is measured "
                                  "inside the indication maps of negatives")
    return NA("missing", f"{column} was not recorded for {row['run']}")


def table3_with_reasons(d: ReportInputs) -> dict[str, list[dict]]:
    """Table 3 per test set (hggt.core.evaluation.table3, with the bicubic baseline where it was
    scored), each missing number an :class:`NA`; test sets of no run of runs.parquet are left out."""
    runs = {r["run_id"]: r for r in d.tables.get("runs") or []}
    metrics = [m for m in d.tables.get("metrics") or [] if m["run_id"] in runs or m["run_id"] == BICUBIC]
    out = {}
    for test_set in sorted({m["test_set"] for m in metrics if m["run_id"] in runs}):
        rows = table3([m for m in metrics if m["test_set"] == test_set], runs)
        out[test_set] = [{k: (_reason(k, r, d.unavailable) if v is None else v) for k, v in r.items()} for r in rows]
    return out


def weights_note(d: ReportInputs) -> tuple[str, list[str], str] | None:
    """One note for every weight file the deep metrics lack: what could not be computed, each file
    with where it goes, and the commands to run after (evaluate fills the metrics in, report shows them)."""
    if not d.missing_weights:
        return None
    metrics = " and ".join(sorted({w["metric"].upper() for w in d.missing_weights}))
    n = len(d.missing_weights)
    head = (f"{metrics} could not be computed: {n} weight file{'s are' if n > 1 else ' is'} missing. Put "
            f"{'each' if n > 1 else 'it'} where hggt looks (`hggt weights fetch` downloads {'them all' if n > 1 else 'it'} "
            "where there is internet; `hggt weights status` gives each download address and checks):")
    files = [f"{w['file']} ({w['size']}, for {w['metric'].upper()}) into {w['folder']}/" for w in d.missing_weights]
    then = (f"Then re-run `hggt evaluate --out {d.root} --run RUN` for each run in the table (with `--test-set FOLDER` for a "
            f"test set outside the dataset), and `hggt report --out {d.root}`.")
    return head, files, then
