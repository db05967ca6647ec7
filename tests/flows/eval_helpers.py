"""Builders for the evaluation tests: a split written by hand, runs' split fingerprints, and small
external test folders in the paired and GT-only layouts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import cv2
import numpy as np

from hggt.core import manifests
from hggt.core.images import encode_png
from hggt.core.splits import TEST, TRAIN, image_of, split_fingerprint
from tests.photos import textured


def write_split(root, sets, test: set[str]) -> str:
    """splits.parquet with ``test`` on the test side and every other labelled set on the train side
    (written here, not by `hggt split`, so the tests fix which set is where)."""
    labels = manifests.read(str(root), "labels").to_pylist()
    positives = {s: sum(r["effective_label"] == "Positive" for r in labels if r["set_id"] == s) for s in sets}
    usable = {r["set_id"]: r["usable"] for r in labels}
    rows = [{"set_id": s, "image_id": image_of(s), "split": TEST if s in test else TRAIN, "positives": positives[s], "usable": usable[s]}
            for s in sets]
    manifests.write(str(root), "splits", manifests.to_table("splits", rows))
    return split_fingerprint(rows)


def set_run_fingerprints(root, fingerprints: dict[str, str | None]) -> None:
    rows = manifests.read(str(root), "runs").to_pylist()
    for r in rows:
        r["split_fingerprint"] = fingerprints.get(r["run_id"], r.get("split_fingerprint"))
    manifests.write(str(root), "runs", manifests.to_table("runs", rows))


def add_run_copies(root, source: str, fingerprints: dict[str, str | None]) -> None:
    """Rows of runs.parquet that reuse ``source``'s model under new ids and fingerprints, trained
    'earlier' so that 'latest' still names the real runs."""
    rows = manifests.read(str(root), "runs").to_pylist()
    base = next(r for r in rows if r["run_id"] == source)
    early = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    rows += [{**base, "run_id": run_id, "split_fingerprint": fp, "created_at": early} for run_id, fp in fingerprints.items()]
    manifests.write(str(root), "runs", manifests.to_table("runs", rows))


def gt_image(h: int, w: int, seed: int) -> np.ndarray:
    return textured(h, w, seed=seed)


def write_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(img))


def paired_folder(folder: Path) -> dict[str, np.ndarray]:
    """GT/ and LQ/ as BasicSR pairs them: ``a`` 34x30 (not a multiple of 4: its GT is cropped to
    4 x LQ), ``b`` 32x32; ``c`` with an LQ of the wrong size, an LQ without GT and a GT without LQ."""
    gts = {"a.png": gt_image(34, 30, 1), "b.png": gt_image(32, 32, 2), "c.png": gt_image(40, 40, 3), "d.png": gt_image(32, 32, 4)}
    for name, gt in gts.items():
        write_png(folder / "GT" / name, gt)
    for name in ("a.png", "b.png"):
        gt = gts[name]
        write_png(folder / "LQ" / name, cv2.resize(gt, (gt.shape[1] // 4, gt.shape[0] // 4), interpolation=cv2.INTER_AREA))
    write_png(folder / "LQ" / "c.png", cv2.resize(gts["c.png"], (12, 12), interpolation=cv2.INTER_AREA))
    write_png(folder / "LQ" / "orphan.png", gt_image(8, 8, 5))
    return gts


def gt_only_folder(folder: Path) -> dict[str, np.ndarray]:
    """*.png directly in the folder: ``x`` 70x45 (mod-cropped to 68x44 before degrading), ``y``
    48x40, and a file that is not a PNG at all."""
    gts = {"x.png": gt_image(70, 45, 6), "y.png": gt_image(48, 40, 7)}
    for name, gt in gts.items():
        write_png(folder / name, gt)
    (folder / "broken.png").write_bytes(b"not a png")
    return gts
