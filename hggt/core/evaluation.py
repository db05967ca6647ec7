"""The paper's Table 3 for your runs: multi-GT PSNR / SSIM / LPIPS / DISTS per run, with the
published numbers beside them for reference (supplement Table 3)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import numpy as np

from hggt.core.networks import GENERATOR, NETWORKS

DATASET = "dataset"  # the test-set name of the dataset's own held-out split
BICUBIC = "bicubic"  # the run_id of the bicubic baseline's rows in metrics.parquet (no run of runs.parquet)
PAPER_TEST_IMAGES = 100  # the paper's Table 3 is on Test-100
TRAIN_SETS_SUFFIX = "-train-sets"  # ends the name of any evaluation allowed onto a run's training sets
ALLOW_FLAG = "--allow-train-sets"
METRICS = ("psnr", "ssim", "lpips", "dists")
EXTRA = ("artifact_rate",)
MODELS = {name: n.display for name, n in NETWORKS.items() if GENERATOR in n.roles}  # Table 3 names
TRAINING_GT = {"psnr": "Original HR (L1 only)", "ori": "Original HR", "pos": "Positive GT", "posneg": "Pos+Neg GT"}
PAPER = {  # supplement Table 3: PSNR, SSIM, LPIPS, DISTS on Test-100
    ("rrdb", "ori"): (22.6388, 0.6454, 0.2408, 0.1676),
    ("rrdb", "pos"): (22.2378, 0.6400, 0.1817, 0.1290),
    ("rrdb", "posneg"): (22.2453, 0.6405, 0.1806, 0.1290),
    ("swinir", "ori"): (22.7147, 0.6516, 0.2274, 0.1620),
    ("swinir", "pos"): (22.3027, 0.6474, 0.1691, 0.1227),
    ("swinir", "posneg"): (22.2733, 0.6476, 0.1688, 0.1227),
}


def train_sets_problem(run_id: str, run_fingerprint: str | None, split_fingerprint: str, side: str) -> str | None:
    """Why scoring ``run_id`` on the ``side`` of the current split would score it on sets it
    trained on (None: the side is held out from it). Only a run that recorded the fingerprint of
    today's split is known to have trained on its train side alone."""
    if side != "test":
        return f"the {side} side of the split is what run {run_id} trained on"
    if run_fingerprint is None:
        return (f"run {run_id} was trained before the held-out split existed (it recorded no split fingerprint), so it "
                "may have trained on today's test sets; retrain it with `hggt train-sr`, which trains on the train side only")
    if run_fingerprint != split_fingerprint:
        return (f"run {run_id} was trained on another split (fingerprint {run_fingerprint}) than manifests/splits.parquet "
                f"({split_fingerprint}), so some of today's test sets may have been its training sets; retrain it with "
                "`hggt train-sr` on the current split")
    return None


def dataset_test_set_name(side: str, on_train_sets: bool) -> str:
    """'dataset' for the held-out test side; anything that may include training sets is named so
    in every table and file: 'dataset-train-sets' (the train side), 'dataset-test-train-sets'
    (a test side the run may have trained on)."""
    if not on_train_sets:
        return DATASET
    return DATASET + TRAIN_SETS_SUFFIX if side == "train" else f"{DATASET}-{side}{TRAIN_SETS_SUFFIX}"


def on_train_sets(test_set: str) -> bool:
    return test_set.startswith(DATASET + "-") and test_set.endswith(TRAIN_SETS_SUFFIX)


TRAIN_SETS_NOTE = (f"NOT HELD OUT: these runs were scored with {ALLOW_FLAG} on sets they may have trained on (debugging "
                   "only); the numbers measure fit to training data, not generalisation.")


def multi_gt_average(rows: list[dict], metrics: tuple[str, ...]) -> dict[str, float | None]:
    """Average each metric over an image's GT versions, then over images (SPEC section 8)."""
    per_image: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        for m in metrics:
            if r.get(m) is not None:
                per_image[r["set_id"]][m].append(r[m])
    out: dict[str, float | None] = {}
    for m in metrics:
        means = [float(np.mean(v[m])) for v in per_image.values() if v[m]]
        out[m] = float(np.mean(means)) if means else None
    return out


def table3(metric_rows: list[dict], runs: dict[str, dict]) -> list[dict]:
    """Table 3 of the runs in ``runs`` (rows of other runs are left out), with the bicubic
    baseline first when its rows (run_id ``bicubic``) are among ``metric_rows``."""
    by_run: dict[str, list[dict]] = defaultdict(list)
    for r in metric_rows:
        if r["run_id"] in runs or r["run_id"] == BICUBIC:
            by_run[r["run_id"]].append(r)
    baseline = by_run.pop(BICUBIC, [])
    if not by_run:
        return []  # a baseline alone scores nothing of this dataset's runs
    out = [_row("Bicubic", "none", BICUBIC, baseline, None)] if baseline else []
    for run_id, rows in sorted(by_run.items(), key=lambda kv: (runs[kv[0]]["arch"], list(TRAINING_GT).index(runs[kv[0]]["mode"]), kv[0])):
        run = runs[run_id]
        model = f"{MODELS[run['arch']]}-{'PSNR' if run['mode'] == 'psnr' else 'GAN'}"
        out.append(_row(model, TRAINING_GT[run["mode"]], run_id, rows, PAPER.get((run["arch"], run["mode"]))))
    return out


def _row(model: str, training_gt: str, run_id: str, rows: list[dict], paper: tuple | None) -> dict:
    means = multi_gt_average(rows, METRICS + EXTRA)
    return {
        "model": model, "training GT": training_gt, "run": run_id, "images": len({r["set_id"] for r in rows}),
        **{m.upper(): means[m] for m in METRICS},
        "artifact rate": means["artifact_rate"],
        **{f"paper {m.upper()}": (paper[i] if paper else None) for i, m in enumerate(METRICS)},
    }


def paper_caveat(rows: list[dict]) -> str:
    """What the rows can and cannot be compared with: how many test images each scored against the
    paper's 100, and that the paper's columns are published values, not computed here."""
    images = sorted({r["images"] for r in rows})
    used = ("each row scored " + " or ".join(map(str, images)) + f" test image{'s' if images != [1] else ''}") if images else "no row scored any test image"
    return (f"Not comparable with the paper: {used} (the 'images' column), the paper's Table 3 scored "
            f"{PAPER_TEST_IMAGES} (Test-100). The 'paper ...' columns are the published values of supplement Table 3, "
            "for full-size models trained 300k iterations on the full human-labelled dataset, copied for reference and "
            "not computed here.")


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def to_markdown(rows: list[dict], title: str, notes: list[str]) -> str:
    if not rows:
        return f"# {title}\n\nNo evaluated runs.\n"
    keys = list(rows[0])
    lines = [f"# {title}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_fmt(r[k]) for k in keys) + " |" for r in rows]
    lines += ["", paper_caveat(rows), "",
              "Scores are averaged over each image's positive GTs, then over images. Bicubic: the LR test inputs",
              "upsampled bicubically, scored with the same metrics (a floor every run should clear). Artifact rate:",
              "the share of pixels inside the indication maps of annotated negatives where the output is closer to",
              "the negative than to the positive (lower is better; see the README)."]
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()
