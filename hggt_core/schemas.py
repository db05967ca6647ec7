"""Every manifest's pyarrow schema, in one place, each with a version.

Bump a manifest's version whenever its columns change; readers refuse manifests written with
another version and say which stage to re-run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from hggt_core.degradation.settings import RECORD_COLUMNS


@dataclass(frozen=True)
class ManifestSpec:
    name: str
    version: int
    key: tuple[str, ...]
    schema: pa.Schema
    produced_by: str


def _spec(name: str, version: int, key: tuple[str, ...], produced_by: str, fields: list[pa.Field]) -> ManifestSpec:
    return ManifestSpec(name, version, key, pa.schema(fields), produced_by)


IMAGES = _spec(
    "images", 1, ("image_id",), "hggt ingest",
    [
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("relpath", pa.string(), nullable=False),
        pa.field("bytes", pa.int64()),
        pa.field("sha256", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("format", pa.string()),
        pa.field("source_mode", pa.string()),
        pa.field("conversion", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
    ],
)

PATCHES = _spec(
    "patches", 1, ("patch_id",), "hggt patches",
    [
        pa.field("patch_id", pa.string(), nullable=False),
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("row", pa.int32(), nullable=False),
        pa.field("col", pa.int32(), nullable=False),
        pa.field("size", pa.int32(), nullable=False),
        pa.field("gray_std", pa.float64(), nullable=False),
        pa.field("lap_var", pa.float64(), nullable=False),
        pa.field("texture_ok", pa.bool_(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
    ],
)

def _synthesis_spec(name: str, produced_by: str, extra: list[pa.Field]) -> ManifestSpec:
    """One row per synthesised LQ image: its ids, its complete degradation record, its file."""
    record = [pa.field(n, pa.bool_() if kind == "bool" else getattr(pa, kind)(), nullable=False) for n, kind in RECORD_COLUMNS]
    ids = [pa.field(n, pa.string(), nullable=False) for n in ("sample_id", "patch_id", "setting")]
    artifact = [pa.field("uri", pa.string(), nullable=False), pa.field("sha256", pa.string(), nullable=False),
                pa.field("bytes", pa.int64(), nullable=False)]
    return _spec(name, 1, ("sample_id",), produced_by, [*ids, *extra, *record, *artifact])


DEGRADATIONS = _synthesis_spec("degradations", "hggt degrade", [])
LR_TEST = _synthesis_spec("lr_test", "hggt synthesize-lr", [pa.field("scale", pa.int32(), nullable=False)])

ENHANCERS = _spec(
    "enhancers", 3, ("version",), "hggt train-enhancers",
    [
        pa.field("version", pa.string(), nullable=False),
        pa.field("arch", pa.string(), nullable=False),  # declared: the architecture Spandrel detected (ESRGAN, SwinIR ...)
        pa.field("setting", pa.string()),  # null for a declared enhancer
        pa.field("iterations", pa.int64(), nullable=False),
        pa.field("checkpoint_uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("config_hash", pa.string(), nullable=False),
        pa.field("parameters", pa.int64(), nullable=False),
        pa.field("perceptual", pa.bool_(), nullable=False),
        pa.field("final_l1", pa.float64()),
        pa.field("final_perceptual", pa.float64()),
        pa.field("final_gan", pa.float64()),
        pa.field("final_d_real", pa.float64()),
        pa.field("final_d_fake", pa.float64()),
        pa.field("seconds", pa.float64()),
        pa.field("device", pa.string()),
        pa.field("source", pa.string()),  # 'trained', or the ready file it came from (enhancers.pretrained, a declared model)
        pa.field("kind", pa.string()),  # v3: 'declared' (a model file loaded through Spandrel); null: trained by hggt
        pa.field("scale", pa.int32()),  # v3: a declared model's scale (its input is the HR image downscaled by it); null: 1
    ],
)

ENHANCED = _spec(
    "enhanced", 1, ("patch_id", "version"), "hggt enhance",
    [
        pa.field("patch_id", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("mean_abs_diff", pa.float64(), nullable=False),
        pa.field("gray_std", pa.float64(), nullable=False),
        pa.field("lap_var", pa.float64(), nullable=False),
        pa.field("texture_ok", pa.bool_(), nullable=False),
    ],
)

SETS = _spec(
    "sets", 1, ("set_id",), "hggt select",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("patch_id", pa.string(), nullable=False),
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("max_diff", pa.float64()),  # null for sets imported from the published dataset
    ],
)

SET_IMAGES = _spec(
    "set_images", 1, ("set_id", "file"), "hggt select / hggt annotate ingest",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("file", pa.string(), nullable=False),  # original, 01 .. 04
        pa.field("uri", pa.string(), nullable=False),
    ],
)

ASSIGNMENTS = _spec(
    "assignments", 1, ("set_id", "annotator"), "hggt annotate export",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("annotator", pa.string(), nullable=False),
        pa.field("batch", pa.int32(), nullable=False),
        pa.field("position", pa.int32(), nullable=False),
        pa.field("display_order", pa.string(), nullable=False),
    ],
)

VOTES = _spec(
    "votes", 1, ("set_id", "version", "annotator"), "hggt annotate ingest",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("annotator", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("started_at", pa.timestamp("ms", tz="UTC")),
        pa.field("ended_at", pa.timestamp("ms", tz="UTC")),
        pa.field("seconds", pa.float64()),
        pa.field("source", pa.string(), nullable=False),  # app, files, published, proxy
    ],
)

LABELS = _spec(
    "labels", 1, ("set_id", "version"), "hggt annotate ingest",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("effective_label", pa.string(), nullable=False),
        pa.field("vote_count", pa.int32(), nullable=False),
        pa.field("usable", pa.bool_(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # human or proxy
    ],
)

SPLITS = _spec(
    "splits", 1, ("set_id",), "hggt split",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("image_id", pa.string(), nullable=False),  # the source photo: a photo's sets are all on one side
        pa.field("split", pa.string(), nullable=False),  # train, test or excluded (see hggt_core.splits)
        pa.field("positives", pa.int32(), nullable=False),  # versions whose effective label is Positive
        pa.field("usable", pa.bool_(), nullable=False),
    ],
)

MAPS = _spec(
    "maps", 1, ("set_id", "pos_version", "neg_version"), "hggt maps",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("pos_version", pa.string(), nullable=False),  # 'original' when the set has no positive
        pa.field("neg_version", pa.string(), nullable=False),
        pa.field("n_pos", pa.int32(), nullable=False),
        pa.field("n_neg", pa.int32(), nullable=False),
        pa.field("nonzero_fraction", pa.float64(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("figure_uri", pa.string()),
    ],
)

RUNS = _spec(
    "runs", 3, ("run_id",), "hggt train-sr",
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("arch", pa.string(), nullable=False),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("iterations", pa.int64(), nullable=False),
        pa.field("checkpoint_uri", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("config_hash", pa.string(), nullable=False),
        pa.field("data_fingerprint", pa.string(), nullable=False),
        pa.field("sets", pa.int64(), nullable=False),
        pa.field("init_run", pa.string()),
        pa.field("parameters", pa.int64(), nullable=False),
        pa.field("perceptual", pa.bool_(), nullable=False),
        pa.field("negative_weight", pa.float64()),
        pa.field("final_l1", pa.float64()),
        pa.field("final_perceptual", pa.float64()),
        pa.field("final_gan", pa.float64()),
        pa.field("final_negative", pa.float64()),
        pa.field("final_d_real", pa.float64()),
        pa.field("final_d_fake", pa.float64()),
        pa.field("seconds", pa.float64()),
        pa.field("device", pa.string()),
        pa.field("created_at", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("split_fingerprint", pa.string()),  # the splits.parquet the run trained on (null: trained before splits)
        # training speed report (hggt_core.training.loop.SpeedMeter)
        pa.field("iterations_per_s", pa.float64()),
        pa.field("samples_per_s", pa.float64()),
        *[pa.field(f"share_{p}", pa.float64()) for p in ("data", "degrade", "pool", "forward", "backward", "optimizer")],
    ],
)

METRICS = _spec(
    "metrics", 2, ("run_id", "test_set", "set_id", "gt_version"), "hggt evaluate",
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("test_set", pa.string(), nullable=False),
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("gt_version", pa.string(), nullable=False),
        pa.field("psnr", pa.float64(), nullable=False),
        pa.field("ssim", pa.float64(), nullable=False),
        pa.field("lpips", pa.float64()),  # null when its weights are missing
        pa.field("dists", pa.float64()),
        pa.field("artifact_rate", pa.float64()),  # per image, null without annotated negatives
        pa.field("sr_uri", pa.string(), nullable=False),
    ],
)

REJECTED = _spec(
    "rejected", 1, ("stage", "item_id"), "every stage",
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("uri", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
    ],
)

STAGE_RUNS = _spec(
    "stage_runs", 1, ("run_id",), "every stage",
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("started_at", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("seconds", pa.float64(), nullable=False),
        pa.field("config_hash", pa.string(), nullable=False),
        pa.field("config_json", pa.string(), nullable=False),
        pa.field("code_version", pa.string(), nullable=False),
        pa.field("items", pa.int64(), nullable=False),
        pa.field("rejected", pa.int64(), nullable=False),
        pa.field("computed", pa.int64(), nullable=False),
        pa.field("shards", pa.int64(), nullable=False),
        pa.field("shards_cached", pa.int64(), nullable=False),
    ],
)

# The learned annotator (hggt_core.annotator): models, their held-out scores, and export triage.
ANNOTATORS = _spec(
    "annotators", 1, ("annotator_id",), "hggt annotator train",
    [
        pa.field("annotator_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # logreg
        pa.field("features", pa.string(), nullable=False),  # comma-separated feature names
        pa.field("votes_source", pa.string(), nullable=False),  # human or proxy: what it learned from
        pa.field("train_sets", pa.int64(), nullable=False),
        pa.field("train_items", pa.int64(), nullable=False),
        pa.field("train_votes", pa.int64(), nullable=False),
        pa.field("iterations", pa.int64(), nullable=False),
        pa.field("train_loss", pa.float64(), nullable=False),
        pa.field("train_accuracy", pa.float64(), nullable=False),
        pa.field("config_hash", pa.string(), nullable=False),
        pa.field("config_json", pa.string(), nullable=False),
        pa.field("data_fingerprint", pa.string(), nullable=False),
        pa.field("split_fingerprint", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),  # annotators/<id>/model.json
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("seconds", pa.float64()),
        pa.field("created_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ],
)

ANNOTATOR_EVALUATIONS = _spec(
    "annotator_evaluations", 1, ("annotator_id", "row"), "hggt annotator evaluate",
    [
        pa.field("annotator_id", pa.string(), nullable=False),
        pa.field("row", pa.string(), nullable=False),  # a rater (model, proxy rules, always Similar, human X) or skip@P
        pa.field("kind", pa.string(), nullable=False),  # rater or skip
        pa.field("reference", pa.string()),
        pa.field("items", pa.int64()),
        pa.field("sets", pa.int64()),
        pa.field("accuracy", pa.float64()),
        pa.field("kappa", pa.float64()),
        pa.field("threshold", pa.float64()),
        pa.field("skipped_sets", pa.int64()),
        pa.field("skipped_not_all_similar", pa.int64()),  # skipped although people labelled a version non-Similar
        pa.field("error_rate", pa.float64()),
        pa.field("non_similar_versions_lost", pa.int64()),
        pa.field("votes_source", pa.string(), nullable=False),  # the labels it was scored against
        pa.field("heldout_fingerprint", pa.string(), nullable=False),
        pa.field("evaluated_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ],
)

TRIAGE = _spec(
    "triage", 1, ("set_id",), "hggt annotate export --order/--skip-confident",
    [
        pa.field("set_id", pa.string(), nullable=False),
        pa.field("annotator_id", pa.string(), nullable=False),
        pa.field("p_all_similar", pa.float64(), nullable=False),
        pa.field("uncertainty", pa.float64(), nullable=False),  # mean entropy of the versions' predictions, bits
        pa.field("order", pa.string(), nullable=False),  # rank or uncertainty
        pa.field("position", pa.int32()),  # place in the hand-out order; null when skipped
        pa.field("decision", pa.string(), nullable=False),  # annotate or skipped
        pa.field("threshold", pa.float64()),  # the --skip-confident P, null without
        pa.field("decided_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ],
)

MANIFESTS: dict[str, ManifestSpec] = {
    s.name: s
    for s in (
        IMAGES, PATCHES, DEGRADATIONS, LR_TEST, ENHANCERS, ENHANCED, SETS, SET_IMAGES, ASSIGNMENTS, VOTES, LABELS, SPLITS, MAPS, RUNS, METRICS,
        REJECTED, STAGE_RUNS, ANNOTATORS, ANNOTATOR_EVALUATIONS, TRIAGE,
    )
}
