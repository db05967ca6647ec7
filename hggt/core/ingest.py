"""HR ingestion: stable image ids, safe inspection of each file, duplicate detection."""

from __future__ import annotations

import posixpath
import re
from collections import Counter

from hggt.core.images import ImageRejected, decode_image

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def image_ids(relpaths: list[str]) -> list[str]:
    """Human-readable ids from paths relative to the input folder.

    Sub-folders join with ``__`` and characters unsafe in file names become ``_``; when two files
    differ only by extension (``a.png``, ``a.jpg``) each id keeps its extension.
    """
    def stem_id(rel: str, keep_ext: bool) -> str:
        stem, ext = posixpath.splitext(rel)
        base = stem + ("_" + ext.lstrip(".").lower() if keep_ext else "")
        return "__".join(_UNSAFE.sub("_", part) for part in base.split("/") if part) or "image"

    plain = [stem_id(r, False) for r in relpaths]
    counts = Counter(plain)
    ids = [stem_id(r, True) if counts[p] > 1 else p for r, p in zip(relpaths, plain)]
    seen: Counter[str] = Counter()
    out = []
    for i in ids:
        seen[i] += 1
        out.append(i if seen[i] == 1 else f"{i}_{seen[i]}")
    return out


def inspect_image(data: bytes, max_pixels: int, min_size: int) -> dict:
    """Decode the file fully (catching truncation) and describe it as an ``images`` row fragment."""
    try:
        decoded = decode_image(data, max_pixels)
    except ImageRejected as exc:
        return {"status": "rejected", "reason": str(exc)}
    h, w = decoded.rgb.shape[:2]
    row = {
        "width": w,
        "height": h,
        "format": decoded.format,
        "source_mode": decoded.source_mode,
        "conversion": decoded.conversion,
        "status": "ok",
        "reason": None,
    }
    if w < min_size or h < min_size:
        row.update(status="rejected", reason=f"too small: {w}x{h} is below the {min_size}x{min_size} crop size")
    return row


def mark_duplicates(rows: list[dict]) -> list[dict]:
    """Reject every ok image whose content equals an earlier one's (in id order)."""
    first: dict[str, str] = {}
    out = []
    for row in sorted(rows, key=lambda r: r["image_id"]):
        sha = row.get("sha256")
        if row["status"] == "ok" and sha:
            if sha in first:
                row = {**row, "status": "rejected", "reason": f"duplicate: same content as image {first[sha]}"}
            else:
                first[sha] = row["image_id"]
        out.append(row)
    return out
