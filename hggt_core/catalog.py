"""Where each artifact of a dataset lives, relative to the dataset root, named once (as Kedro's
catalog names its datasets): the stages that write an artifact and the dataset API
(:mod:`hggt_core.dataset`) that reads it take its path from here, so the layout cannot drift
between writer and reader. Paths are relative so that a dataset can move between disk,
``memory://`` and ``s3://`` without rewriting its manifests (see :mod:`hggt_core.storage`).
"""

from __future__ import annotations

import posixpath

ORIGINAL_DIR = "original"
MANIFESTS_DIR = "manifests"
# The preset and overrides the dataset was built with (hggt_core.build_record).
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
    return posixpath.join("enhancers", version, f"model{suffix}")


def run_dir(run_id: str) -> str:
    return posixpath.join("runs", run_id)


def run_model(run_id: str) -> str:
    return posixpath.join(run_dir(run_id), "model.pt")


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


def is_uri_column(name: str) -> bool:
    """Columns that hold an artifact's address (``uri``, ``checkpoint_uri``, ``figure_uri``,
    ``sr_uri`` ...): relative to the dataset root, or a full URL for inputs outside it."""
    return name == "uri" or name.endswith("_uri")
