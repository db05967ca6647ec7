"""A proxy annotator for unattended demos: full-reference rules against the original, never a
substitute for people. Its votes carry source 'proxy'.

Each enhanced version is described by how far it moves from the original (mean absolute
difference) and whether it is sharper (variance of the grayscale Laplacian). Three proxy
annotators with different tolerances then vote, with thresholds taken from the distribution of
changes over all sets, so that any enhancers, however (un)trained, get a mix of labels: the least
changed versions are Similar, sharper versions with a moderate change are Positive, the rest
(large changes, softer results) are Negative.
"""

from __future__ import annotations

import cv2
import numpy as np

from hggt.core.images import to_gray

# (quantile of change below which a version is Similar, quantile below which a sharper one is Positive)
ANNOTATORS = {"proxy-1": (0.10, 0.40), "proxy-2": (0.15, 0.50), "proxy-3": (0.20, 0.60)}


def _sharpness(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(to_gray(rgb), cv2.CV_64F).var())


def features(original: np.ndarray, versions: dict[str, np.ndarray]) -> dict[str, tuple[float, bool]]:
    """Per version: (mean absolute change from the original, whether it is sharper)."""
    base = _sharpness(original)
    return {v: (float(np.abs(original.astype(np.float64) - img).mean()), _sharpness(img) >= base) for v, img in versions.items()}


def proxy_votes(described: dict[str, dict[str, tuple[float, bool]]]) -> list[dict]:
    """Votes of the three proxy annotators for sets described by :func:`features`."""
    changes = np.array([c for versions in described.values() for c, _ in versions.values()])
    if len(changes) == 0:
        return []
    rows = []
    for name, (q_similar, q_positive) in ANNOTATORS.items():
        similar, positive = np.quantile(changes, q_similar), np.quantile(changes, q_positive)
        for set_id, versions in sorted(described.items()):
            for version, (change, sharper) in sorted(versions.items()):
                label = "Similar" if change <= similar else "Positive" if sharper and change <= positive else "Negative"
                rows.append({"set_id": set_id, "version": version, "annotator": name, "label": label, "source": "proxy",
                             "started_at": None, "ended_at": None, "seconds": None})
    return rows
