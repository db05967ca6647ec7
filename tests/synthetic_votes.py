"""A tiny dataset whose votes follow a known rule, for the learned annotator's tests.

Each version is the original sharpened (people: Positive), blurred or noisier (Negative), each at a
seeded strength; a change too small to see is Similar whatever its kind. Three annotators vote the
rule's label and each flips to another label with probability FLIP. The proxy's rule calls noise
"sharper" (Positive), so it cannot recover this rule; the residual's statistics can."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hggt.core import manifests
from hggt.core.annotation.labels import LABELS, aggregate
from hggt.core.images import encode_png
from hggt.core.synthetic import photo

VERSIONS = ("01", "02", "03", "04")
FLIP = 0.1
SIMILAR_BELOW = 1.0  # mean absolute change (8-bit levels) under which people see no difference
KIND_LABEL = {"sharpen": "Positive", "blur": "Negative", "noise": "Negative"}


def make_version(original: np.ndarray, kind: str, strength: float, rng: np.random.Generator) -> np.ndarray:
    f = original.astype(np.float32)
    if kind == "sharpen":
        out = f + strength * (f - cv2.GaussianBlur(f, (0, 0), 1.0))
    elif kind == "blur":
        out = cv2.GaussianBlur(f, (0, 0), 0.3 + 1.2 * strength)
    else:
        out = f + rng.normal(0, 12 * strength, f.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def rule_label(original: np.ndarray, version: np.ndarray, kind: str) -> str:
    change = float(np.abs(original.astype(np.float64) - version).mean())
    return "Similar" if change < SIMILAR_BELOW else KIND_LABEL[kind]


def build(root: Path, photos: int = 12, sets_per_photo: int = 6, heldout_photos: int = 4, size: int = 48, seed: int = 0) -> dict:
    """Write sets, set_images, votes, labels and splits; return the rule's label of every item."""
    rng = np.random.default_rng(seed)
    sets, images, votes, truth, splits = [], [], [], {}, []
    for p in range(photos):
        big = photo(seed * 1000 + p, size * 3, size * 3)
        for k in range(sets_per_photo):
            r, c = divmod(k, 3)
            set_id = f"photo{p}-{r * size}-{c * size}"
            original = np.ascontiguousarray(big[r * size:(r + 1) * size, c * size:(c + 1) * size])
            quiet = rng.random() < 0.3  # a set whose versions all barely change: all Similar
            files = {"original": original}
            for v in VERSIONS:
                kind = str(rng.choice(list(KIND_LABEL)))
                strength = float(rng.uniform(0.01, 0.05) if quiet else rng.uniform(0.05, 1.0))
                files[v] = make_version(original, kind, strength, rng)
                truth[(set_id, v)] = rule_label(original, files[v], kind)
                for name in "ABC":
                    label = truth[(set_id, v)]
                    if rng.random() < FLIP:
                        label = str(rng.choice([x for x in LABELS if x != label]))
                    votes.append({"set_id": set_id, "version": v, "annotator": name, "label": label, "started_at": None,
                                  "ended_at": None, "seconds": 20.0, "source": "files"})
            for f, img in files.items():
                rel = f"original/{set_id}.png" if f == "original" else f"{f}/{set_id}_{f}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(encode_png(img))
                images.append({"set_id": set_id, "file": f, "uri": rel})
            sets.append({"set_id": set_id, "patch_id": set_id, "rank": len(sets) + 1, "max_diff": None})
    labels, _ = aggregate(votes, 3)
    for s in sets:
        held = int(s["set_id"].split("-")[0][5:]) >= photos - heldout_photos
        positives = sum(r["effective_label"] == "Positive" for r in labels if r["set_id"] == s["set_id"])
        usable = any(r["usable"] for r in labels if r["set_id"] == s["set_id"])
        side = "train" if not held else "test" if positives >= 2 else "excluded"
        splits.append({"set_id": s["set_id"], "image_id": s["set_id"].split("-")[0], "split": side, "positives": positives, "usable": usable})
    for name, rows in (("sets", sets), ("set_images", images), ("votes", votes), ("labels", [{**r, "source": "human"} for r in labels]),
                       ("splits", splits)):
        manifests.write(str(root), name, manifests.to_table(name, rows))
    return truth
