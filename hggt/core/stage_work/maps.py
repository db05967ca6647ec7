"""One item of the maps stage (paper Sec. 4, supp. Sec. 4): the indication maps of every
(positive, negative) pair of a usable set with a negative, stored as float16 .npz, with a Figure 3
picture per set."""

from __future__ import annotations

import io
from collections import defaultdict

import cv2
import numpy as np

from hggt.core import catalog, manifests, storage
from hggt.core.annotation.pairs import gt_versions, map_pairs
from hggt.core.config import HGGTConfig
from hggt.core.figures import map_figure
from hggt.core.images import ImageRejected, decode_png
from hggt.core.maps import indication_map
from hggt.core.shard_engine.contract import ShardedStage
from hggt.core.shard_engine.work import ItemOutput

STAGE = "maps"


def _items(root: str, cfg: HGGTConfig, source: str | None = None) -> list[dict]:
    images: dict[str, dict[str, str]] = defaultdict(dict)
    for r in manifests.read(root, "set_images").to_pylist():
        images[r["set_id"]][r["file"]] = r["uri"]
    items = []
    for set_id, entry in sorted(gt_versions(manifests.read(root, "labels").to_pylist()).items()):
        pairs = map_pairs(entry)
        if pairs:
            files = {f: images[set_id][f] for f in {"original", *(p for p, *_ in pairs), *(n for *_, n, _ in pairs)}}
            items.append({"item_id": set_id, "pairs": [list(p) for p in pairs], "images": dict(sorted(files.items()))})
    return items


def _npz(m_pos: np.ndarray, m_neg: np.ndarray, m_ind: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, m_pos=m_pos.astype(np.float16), m_neg=m_neg.astype(np.float16), m_ind=m_ind.astype(np.float16))
    return buf.getvalue()


def load_maps(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data)) as z:
        return {k: z[k].astype(np.float32) for k in ("m_pos", "m_neg", "m_ind")}


def _maps_item(item: dict, root: str, cfg: HGGTConfig) -> ItemOutput:
    set_id = item["item_id"]
    try:
        imgs = {f: decode_png(storage.read_bytes(storage.resolve(root, u))).astype(np.float32) / 255.0 for f, u in item["images"].items()}
    except (FileNotFoundError, ImageRejected) as exc:
        return ItemOutput(rejected=[{"stage": STAGE, "item_id": set_id, "uri": None, "reason": f"set image unreadable: {exc}"}])
    out = ItemOutput()
    ori = imgs["original"]
    for i, (p, n_pos, n, n_neg) in enumerate(item["pairs"]):
        pos = None if p == "original" else imgs[p]
        m_pos, m_neg, m_ind = indication_map(ori, pos, imgs[n], n_pos, n_neg, cfg.maps.ksize)
        uri = catalog.map_pair(set_id, p, n)
        written = storage.atomic_write(storage.resolve(root, uri), _npz(m_pos, m_neg, m_ind))
        figure_uri = None
        if i == 0:
            to8 = lambda x: (np.clip(x, 0, 1) * 255).round().astype(np.uint8)  # noqa: E731
            fig = map_figure(to8(ori), to8(pos if pos is not None else ori), to8(imgs[n]), m_neg, m_pos, m_ind,
                             f"positive {p}", f"negative {n}", cfg.maps.figure_size)
            ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(fig, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
            figure_uri = catalog.map_figure(set_id)
            fig_written = storage.atomic_write(storage.resolve(root, figure_uri), jpg.tobytes())
            out.artifacts.append((figure_uri, fig_written.size, fig_written.sha256))
        out.rows.append({"set_id": set_id, "pos_version": p, "neg_version": n, "n_pos": n_pos, "n_neg": n_neg,
                         "nonzero_fraction": float((m_ind > 0).mean()), "uri": uri, "sha256": written.sha256,
                         "bytes": written.size, "figure_uri": figure_uri})
        out.artifacts.append((uri, written.size, written.sha256))
    return out


def _counts(table) -> dict:
    fractions = table.column("nonzero_fraction").to_pylist()
    return {"sets": len(set(table.column("set_id").to_pylist())),
            "mean_nonzero_fraction": round(float(np.mean(fractions)), 4) if fractions else None}


MAPS = ShardedStage("maps", STAGE, "maps", ("maps",), lambda cfg: cfg.maps.shard_size, _items, _maps_item, extra=_counts)
