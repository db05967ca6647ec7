"""Where each artifact of a dataset lives, relative to the dataset root, named once (as Kedro's
catalog names its datasets): the stages that write an artifact and the dataset API
(:mod:`hggt.core.dataset`) that reads it take its path from here, so the layout cannot drift
between writer and reader. Paths are relative so that a dataset can move between disk,
``memory://`` and ``s3://`` without rewriting its manifests (see :mod:`hggt.core.storage`).
"""

from __future__ import annotations

import posixpath

ORIGINAL_DIR = "original"
MANIFESTS_DIR = "manifests"
# The preset and overrides the dataset was built with (hggt.core.build_record).
BUILD_RECORD = "build.json"


def manifest(name: str) -> str:
    return posixpath.join(MANIFESTS_DIR, f"{name}.parquet")


def original(patch_id: str) -> str:
    return f"{ORIGINAL_DIR}/{patch_id}.png"


def enhanced(version: str, patch_id: str) -> str:
    return f"{version}/{patch_id}_{version}.png"


def lq_dir(setting: str) -> str:
    return f"lq/setting{setting}"


def lq(setting: str, sample_id: str) -> str:
    return f"{lq_dir(setting)}/{sample_id}.png"


def lr_test_dir(scale: int) -> str:
    return f"lr_test/x{scale}"


def lr_test(scale: int, patch_id: str) -> str:
    return f"{lr_test_dir(scale)}/{patch_id}.png"


def map_pair(set_id: str, pos_version: str, neg_version: str) -> str:
    return f"maps/{set_id}/{pos_version}_{neg_version}.npz"


def map_figure(set_id: str) -> str:
    return f"maps/{set_id}/figure.jpg"


def enhancer_model(version: str, suffix: str = ".pt") -> str:
    """An enhancer's weights: trained (model.pt) or a declared file copied in (its own suffix)."""
    return posixpath.join(enhancer_dir(version), f"{posixpath.splitext(MODEL_FILE)[0]}{suffix}")


# In a training folder (a run's, an enhancer's): the model, its training record and its loss curve.
MODEL_FILE = "model.pt"
TRAINING_RECORD = "record.json"
LOSSES_FILE = "losses.csv"


def run_dir(run_id: str) -> str:
    return posixpath.join("runs", run_id)


def run_model(run_id: str) -> str:
    return posixpath.join(run_dir(run_id), MODEL_FILE)


def run_checkpoints(run_id: str) -> str:
    return posixpath.join(run_dir(run_id), "checkpoints")


def run_samples(run_id: str) -> str:
    return posixpath.join(run_dir(run_id), "samples.png")


def evaluation_sr(run_id: str, test_set: str, name: str) -> str:
    return f"evaluations/{run_id}/{test_set}/sr/{name}"


def evaluation_lq_dir(test_set: str) -> str:
    """LQ inputs made once for a GT-only external test set."""
    return f"evaluations/{test_set}/lq"


def table3(test_set: str, ext: str) -> str:
    return f"reports/table3-{test_set}.{ext}"


def comparison(test_set: str, runs: list[str], set_id: str) -> str:
    return f"reports/compare/{test_set}/{'-vs-'.join(runs)}/{set_id}.png"


def annotator_model(annotator_id: str) -> str:
    return posixpath.join("annotators", annotator_id, "model.json")


def annotator_evaluation(annotator_id: str) -> str:
    return posixpath.join("annotators", annotator_id, "evaluation.json")


# The annotation campaign (hggt.core.annotation, hggt.app): beside its database, files readable by
# the dataset's owner only (tokens) and the address it is served on.
ANNOTATION_DIR = "annotation"
ANNOTATION_DB = "votes.sqlite"
ANNOTATOR_TOKENS = "tokens.txt"
ADMIN_TOKEN = "admin-token.txt"
APP_SETTINGS = "app.json"


def annotation_db() -> str:
    return posixpath.join(ANNOTATION_DIR, ANNOTATION_DB)


def agreement_report() -> str:
    """Written by aggregate, read by the report: agreement and quality per vote source."""
    return posixpath.join(ANNOTATION_DIR, "agreement.json")


def published_copy(batch: int, file: str, name: str) -> str:
    """A set's image in the published layout the campaign keeps for other tools."""
    return posixpath.join(ANNOTATION_DIR, "images", f"{batch:04d}", file, name)


def dataset_report() -> str:
    return "reports/dataset.html"


def model_export(stem: str, fmt: str) -> str:
    return f"exports/{stem}.{fmt}"


def evaluation_lq_record(test_set: str) -> str:
    """The degradation records of a GT-only test set's LQ inputs (lr_test's schema)."""
    return posixpath.join(evaluation_lq_dir(test_set), "lr_test.parquet")


def shard_parts(stage: str) -> str:
    """Where a stage's shard parts and item records live until its manifest is merged."""
    return posixpath.join(MANIFESTS_DIR, "parts", stage)


def shard_part(stage: str, shard_key: str, rejected: bool = False) -> str:
    """One shard's rows (or its rejected items) in :func:`shard_parts`."""
    return posixpath.join(shard_parts(stage), f"{shard_key}{'.rejected' if rejected else ''}.parquet")


def item_records(stage: str) -> str:
    """What each finished item produced, kept until the stage's manifest is merged (resume after a kill)."""
    return posixpath.join(shard_parts(stage), "items")


def item_record(stage: str, item_id: str) -> str:
    return posixpath.join(item_records(stage), f"{item_id}.json")


def is_uri_column(name: str) -> bool:
    """Columns that hold an artifact's address (``uri``, ``checkpoint_uri``, ``figure_uri``,
    ``sr_uri`` ...): relative to the dataset root, or a full URL for inputs outside it."""
    return name == "uri" or name.endswith("_uri")


def enhancer_dir(version: str) -> str:
    """An enhancer's training folder (its model file is :func:`enhancer_model`)."""
    return posixpath.join("enhancers", version)


# A folder of ready enhancers (enhancers.pretrained, the shipped hggt/core/demo_enhancers): one
# model file per version and one training record of them all.
PRETRAINED_RECORD = "record.json"


def pretrained_model(version: str) -> str:
    return f"{version}.pt"
