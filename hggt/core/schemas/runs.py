"""The manifests of what runs on the built dataset: SR training runs and their evaluation, every
stage's rejections and run log, and the learned annotator."""

from __future__ import annotations

import pyarrow as pa

from hggt.core.schemas.spec import manifest_spec

RUNS = manifest_spec(
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
        # training speed report (hggt.core.training.loop.SpeedMeter)
        pa.field("iterations_per_s", pa.float64()),
        pa.field("samples_per_s", pa.float64()),
        *[pa.field(f"share_{p}", pa.float64()) for p in ("data", "degrade", "pool", "forward", "backward", "optimizer")],
    ],
)

METRICS = manifest_spec(
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

REJECTED = manifest_spec(
    "rejected", 1, ("stage", "item_id"), "every stage",
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("uri", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
    ],
)

STAGE_RUNS = manifest_spec(
    "stage_runs", 2, ("run_id",), "every stage",
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
        # v2: "completed", or how a run ended early, e.g. "stopped at 60/100 (SIGTERM)"; null in v1 rows (completed)
        pa.field("state", pa.string()),
    ],
)

# The learned annotator (hggt.core.annotator): models, their held-out scores, and export triage.
ANNOTATORS = manifest_spec(
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

ANNOTATOR_EVALUATIONS = manifest_spec(
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

TRIAGE = manifest_spec(
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
