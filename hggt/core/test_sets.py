"""Test sets from outside the dataset: which of the three layouts a folder has, and how images
whose size is not a multiple of the scale are matched, the way BasicSR does it.

Layouts (relative paths of the folder's files):
- ``published``: the Test-100 layout, ``images/<range>/{original,01..04}/`` with ``labels/``;
- ``paired``: ``GT/<name>.png`` and ``LQ/<name>.png`` (BasicSR's paired folders);
- ``gt_only``: ``<name>.png`` directly in the folder; the LQ inputs are synthesised.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

import numpy as np

from hggt.core.annotation.published import image_path

PUBLISHED, PAIRED, GT_ONLY = "published", "paired", "gt_only"
GT_DIR, LQ_DIR = "GT", "LQ"
SINGLE_GT = "GT"  # the gt_version of an external test set's one reference


class LayoutError(ValueError):
    """The folder matches none of the layouts."""


def paired_part(relpath: str) -> tuple[str, str] | None:
    """('GT' or 'LQ', file name) of ``GT/<name>.png`` or ``LQ/<name>.png`` (any case of GT/LQ)."""
    parts = relpath.split("/")
    if len(parts) != 2 or not parts[1].lower().endswith(".png") or parts[0].upper() not in (GT_DIR, LQ_DIR):
        return None
    return parts[0].upper(), parts[1]


def detect_layout(folder: str, relpaths: Iterable[str]) -> str:
    """The layout of a folder from its files' relative paths; published wins over paired, paired
    over GT-only, so a Test-100 folder with stray top-level PNGs is still read as Test-100."""
    relpaths = list(relpaths)
    if any(image_path(p) for p in relpaths):
        return PUBLISHED
    sides = {found[0] for p in relpaths if (found := paired_part(p))}
    if sides == {GT_DIR, LQ_DIR}:
        return PAIRED
    if any("/" not in p and p.lower().endswith(".png") for p in relpaths):
        return GT_ONLY
    shown = ", ".join(relpaths[:5]) + (" ..." if len(relpaths) > 5 else "") if relpaths else "no PNG or JSON files"
    raise LayoutError(
        f"test set {folder!r} matches none of the three layouts: a Test-100 folder (images/<range>/original/ and "
        f"labels/), paired GT/*.png with LQ/*.png of the same names, or *.png directly in the folder (GT only); "
        f"found: {shown}"
    )


def pair_names(gt_names: Iterable[str], lq_names: Iterable[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """File names present on both sides, and (name, reason) for those on one side only."""
    gt, lq = set(gt_names), set(lq_names)
    problems = [(n, f"LQ/{n} has no GT/{n}: skipped") for n in sorted(lq - gt)]
    problems += [(n, f"GT/{n} has no LQ/{n}: skipped") for n in sorted(gt - lq)]
    return sorted(gt & lq), problems


def item_id(name: str) -> str:
    return posixpath.splitext(name)[0]


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Top-left crop to a multiple of ``scale`` (BasicSR's ``mod_crop``), before a GT is degraded."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def gt_for_lq(gt: np.ndarray, lq_shape: tuple[int, ...], scale: int) -> np.ndarray:
    """The GT region an x``scale`` output of this LQ is scored against: its top-left
    ``scale x LQ`` pixels, as BasicSR's paired dataset crops GTs at test time. A GT whose size is
    not ``scale`` times the LQ's up to the remainder (a different ratio, or swapped folders) is
    refused, naming both sizes."""
    (gh, gw), (lh, lw) = gt.shape[:2], lq_shape[:2]
    if gh // scale != lh or gw // scale != lw:
        raise ValueError(f"GT {gw}x{gh} is not {scale}x its LQ {lw}x{lh} (wrong size ratio or mismatched files)")
    return gt[: lh * scale, : lw * scale]


def bicubic_upscale(lq: np.ndarray, scale: int) -> np.ndarray:
    """The bicubic baseline of an H x W x 3 uint8 LQ input: ``scale`` times its size, PyTorch's
    bicubic (a = -0.75, pixel centres aligned as align_corners=False), rounded to uint8; the
    `compare` grids show the same picture."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(lq)).permute(2, 0, 1)[None].float()
    y = F.interpolate(x, size=(lq.shape[0] * scale, lq.shape[1] * scale), mode="bicubic", align_corners=False)
    return y.clamp(0, 255).round().byte()[0].permute(1, 2, 0).contiguous().numpy()
