"""Every manifest's pyarrow schema, each with a version, and MANIFESTS, the registry readers and
writers look them up in.

Bump a manifest's version whenever its columns change; readers refuse manifests written with
another version and say which stage to re-run.
"""

from __future__ import annotations

from hggt.core.schemas.build import (
    ASSIGNMENTS, DEGRADATIONS, ENHANCED, ENHANCERS, IMAGES, LABELS, LR_TEST, MAPS, PATCHES, SET_IMAGES, SET_SOURCES, SETS, SPLITS,
    VOTES,
)
from hggt.core.schemas.runs import ANNOTATOR_EVALUATIONS, ANNOTATORS, METRICS, REJECTED, RUNS, STAGE_RUNS, TRIAGE
from hggt.core.schemas.spec import ManifestSpec, manifest_spec

__all__ = [
    "ANNOTATOR_EVALUATIONS", "ANNOTATORS", "ASSIGNMENTS", "DEGRADATIONS", "ENHANCED", "ENHANCERS", "IMAGES", "LABELS", "LR_TEST",
    "MANIFESTS", "MAPS", "METRICS", "PATCHES", "REJECTED", "RUNS", "SET_IMAGES", "SET_SOURCES", "SETS", "SPLITS", "STAGE_RUNS", "TRIAGE", "VOTES",
    "ManifestSpec", "manifest_spec",
]

MANIFESTS: dict[str, ManifestSpec] = {
    s.name: s
    for s in (
        IMAGES, PATCHES, DEGRADATIONS, LR_TEST, ENHANCERS, ENHANCED, SETS, SET_IMAGES, SET_SOURCES, ASSIGNMENTS, VOTES, LABELS, SPLITS, MAPS, RUNS, METRICS,
        REJECTED, STAGE_RUNS, ANNOTATORS, ANNOTATOR_EVALUATIONS, TRIAGE,
    )
}
