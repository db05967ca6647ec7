"""Prefect task of the dataset report: reads the manifests (whichever exist), the pictures of the
example sets and maps the core picks, and the loss curves, and writes one self-contained HTML file."""

from __future__ import annotations

import json
import posixpath

import cv2
from prefect import task

from hggt.core import catalog, manifests, storage
from hggt.core.figures import map_top
from hggt.core.images import decode_png, encode_png
from hggt.core.metrics import missing_weights, unavailable
from hggt.core.report import ExampleSet, ReportInputs, render
from hggt.core.report_sections import DECLARED
from hggt.core.report_plots import choose_examples, set_category
from hggt.core.schemas import MANIFESTS
from hggt.core.splits import image_of
from hggt.core.training.history import from_csv
from hggt.core.stage_work.maps import load_maps


def _read_all(root: str) -> tuple[dict[str, list[dict] | None], dict[str, str]]:
    """Every manifest's rows (None where missing) and why any that exist could not be read: a
    stale manifest leaves its sections saying so instead of failing the report."""
    tables, problems = {}, {}
    for name in MANIFESTS:
        url = manifests.manifest_url(root, name)
        try:
            tables[name] = manifests.read_table(url, name).to_pylist() if storage.exists(url) else None
        except (manifests.ManifestError, ValueError, OSError) as exc:  # pyarrow's cast errors are ValueErrors
            tables[name], problems[name] = None, f"{catalog.manifest(name)} could not be read: {exc}"
    return tables, problems


def _thumb(data: bytes, size: int = 160) -> bytes:
    img = decode_png(data)
    # downscale only: small crops are shown pixel for pixel, enlarged by the browser
    return encode_png(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)) if img.shape[0] > size else encode_png(img)


def _photos(tables: dict) -> dict[str, str]:
    """Each set's source photo: from the split, else through its patch, else from its name."""
    patch_photo = {r["patch_id"]: r["image_id"] for r in tables.get("patches") or []}
    out = {r["set_id"]: patch_photo.get(r["patch_id"], image_of(r["set_id"])) for r in tables.get("sets") or []}
    out.update({r["set_id"]: r["image_id"] for r in tables.get("splits") or []})
    return out


def _examples(root: str, tables: dict, photos: dict[str, str], n: int) -> list[ExampleSet]:
    labels = tables.get("labels") or []
    usable = {r["set_id"] for r in labels if r["usable"]}
    by_set: dict[str, dict[str, tuple[str, int]]] = {}
    for r in labels:
        if r["set_id"] in usable:
            by_set.setdefault(r["set_id"], {})[r["version"]] = (r["effective_label"], r["vote_count"])
    images = {(r["set_id"], r["file"]): r["uri"] for r in tables.get("set_images") or []}
    patch = {r["set_id"]: r["patch_id"] for r in tables.get("sets") or []}
    diff = {(r["patch_id"], r["version"]): r["mean_abs_diff"] for r in tables.get("enhanced") or []}
    out = []
    chosen = choose_examples({s: {v: lab for v, (lab, _) in vs.items()} for s, vs in by_set.items()}, photos, n)
    for set_id in chosen:
        files = ("original", *sorted(f for s, f in images if s == set_id and f != "original"))
        if not all((set_id, f) in images for f in files):
            continue
        pics = {f: _thumb(storage.read_bytes(storage.resolve(root, images[(set_id, f)]))) for f in files}
        diffs = {v: diff[(patch.get(set_id), v)] for v in files[1:] if (patch.get(set_id), v) in diff}
        out.append(ExampleSet(set_id, pics, by_set[set_id], photos.get(set_id, ""),
                              set_category({v: lab for v, (lab, _) in by_set[set_id].items()}), diffs))
    return out


def _map_figures(root: str, tables: dict, photos: dict[str, str], n: int) -> tuple[list[tuple[str, str, bytes]], dict[str, float]]:
    """One picture per set, from different photos first; only sets with both a positive and a
    negative when any exist; and the top of each picture's colour scale, from its stored maps."""
    rows = [r for r in tables.get("maps") or [] if r["figure_uri"]]
    paired = [r for r in rows if r["pos_version"] != "original"]
    per_set: dict[str, dict] = {}
    for r in sorted(paired or rows, key=lambda r: (r["set_id"], r["pos_version"], r["neg_version"])):
        per_set.setdefault(r["set_id"], r)
    by_photo: dict[str, list[str]] = {}
    for s in per_set:
        by_photo.setdefault(photos.get(s, s), []).append(s)
    order = [sets[i] for i in range(max(map(len, by_photo.values()), default=0)) for sets in by_photo.values() if i < len(sets)]
    out, tops = [], {}
    for s in order[:n]:
        r = per_set[s]
        caption = f"positive {r['pos_version']}, negative {r['neg_version']}, {r['nonzero_fraction']:.1%} of pixels indicated"
        out.append((s, caption, storage.read_bytes(storage.resolve(root, r["figure_uri"]))))
        try:  # the picture's scale, as map_figure set it (from the float16 copy of its M_neg)
            tops[s] = map_top(load_maps(storage.read_bytes(storage.resolve(root, r["uri"])))["m_neg"])
        except (FileNotFoundError, ValueError, KeyError):
            pass  # the picture is shown without its scale's value
    return out, tops


def _losses(root: str, tables: dict) -> dict[str, list[dict] | str]:
    """Each Real-ISR run's and enhancer's loss curve (losses.csv beside its model), or why none."""
    out: dict[str, list[dict] | str] = {}
    named = [(f"enhancer {r['version']} ({r['arch']})", r) for r in sorted(tables.get("enhancers") or [], key=lambda r: r["version"])]
    named += [(f"run {r['run_id']}", r) for r in sorted(tables.get("runs") or [], key=lambda r: r["created_at"])]
    for name, r in named:
        url = storage.resolve(root, posixpath.join(posixpath.dirname(r["checkpoint_uri"]), catalog.LOSSES_FILE))
        if storage.exists(url):
            out[name] = from_csv(storage.read_bytes(url))
        elif r.get("kind") == DECLARED:
            out[name] = f"no loss curve: declared, adopted as it is from the model file {posixpath.basename(r['source'])}; hggt did not train it"
        elif r.get("source") not in (None, "trained"):
            out[name] = f"no loss curve: adopted ready-made from {r['source']}"
        else:
            out[name] = f"no loss curve: no {catalog.LOSSES_FILE} beside its model (trained before hggt kept one)"
    return out


@task(name="dataset-report", persist_result=False)
def report_task(root: str, examples: int = 6) -> dict:
    tables, problems = _read_all(root)
    photos = _photos(tables)
    agreement_url = storage.join(root, catalog.agreement_report())
    notes = []
    if any(r["source"] == "proxy" for r in tables.get("labels") or []):
        notes.append("Some labels come from the PROXY annotator (full-reference rules), not from people.")
    figures, tops = _map_figures(root, tables, photos, examples)
    data = ReportInputs(
        name=posixpath.basename(root.rstrip("/")) or root, root=root, tables=tables, problems=problems,
        agreement=json.loads(storage.read_bytes(agreement_url)) if storage.exists(agreement_url) else {},
        examples=_examples(root, tables, photos, examples), map_figures=figures, map_tops=tops,
        losses=_losses(root, tables), unavailable=unavailable() if tables.get("metrics") else {},
        missing_weights=missing_weights() if tables.get("metrics") else [], notes=notes,
    )
    uri = storage.join(root, catalog.dataset_report())
    written = storage.atomic_write(uri, render(data).encode())
    return {"report": uri, "bytes": written.size, "examples": len(data.examples), "maps": len(data.map_figures),
            "loss_curves": sum(isinstance(h, list) for h in data.losses.values()),
            "missing_manifests": sorted(n for n, rows in tables.items() if rows is None)}
