"""Prefect tasks of the learned annotator: features of a dataset's crop pairs, training on the
train side's votes, loading a recorded (or the shipped) model, and the triage of an export."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from prefect import task

from hggt.core import catalog, manifests, storage
from hggt.core.annotator import DEMO_ANNOTATOR
from hggt.core.annotator import triage as triage_core
from hggt.core.annotator.features import pair_features
from hggt.core.annotator.model import LogReg
from hggt.core.annotator.scoring import Item, all_similar_probability, effective_proba
from hggt.core.annotator.training import AnnotatorConfig, annotator_id, data_fingerprint, predict, train, train_votes
from hggt.core.images import ImageRejected, decode_png
from hggt.core.splits import split_fingerprint
from hggt.tasks.progress import DashboardProgress

UTC = dt.timezone.utc


def set_images(root: str, set_ids: set[str] | None = None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for r in manifests.read(root, "set_images").to_pylist():
        if set_ids is None or r["set_id"] in set_ids:
            out[r["set_id"]][r["file"]] = storage.resolve(root, r["uri"])
    return out


def _decode(set_id: str, file: str, url: str) -> object:
    try:
        return decode_png(storage.read_bytes(url))
    except FileNotFoundError:
        raise ValueError(f"set {set_id}: its {file} image {url} is missing") from None
    except ImageRejected as exc:
        raise ValueError(f"set {set_id}: its {file} image {url} cannot be read ({exc})") from None


def compute_features(root: str, wanted: dict[str, list[str]], stage: str = "annotator-features") -> dict[Item, dict[str, float]]:
    """Features of each (set, version) in ``wanted`` ({set: versions}); a set whose images are
    missing or unreadable stops the stage with its id and the file."""
    images = set_images(root, set(wanted))

    def one(set_id: str) -> dict[Item, dict[str, float]]:
        files = images.get(set_id, {})
        lacking = [f for f in ("original", *wanted[set_id]) if f not in files]
        if lacking:
            raise ValueError(f"set {set_id}: no {', '.join(lacking)} image in set_images.parquet (re-run `hggt select`, "
                             "or `hggt annotate ingest` for imported sets)")
        original = _decode(set_id, "original", files["original"])
        return {(set_id, v): pair_features(original, _decode(set_id, v, files[v]), f"set {set_id} version {v}") for v in wanted[set_id]}

    out: dict[Item, dict[str, float]] = {}
    progress = DashboardProgress(stage, len(wanted), root, unit="sets")
    try:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
            for done, part in enumerate(pool.map(one, sorted(wanted)), 1):
                out.update(part)
                progress.update(done)
    finally:
        progress.wait()
    return out


def _versions(items) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for s, v in sorted(set(items)):
        out[s].append(v)
    return dict(out)


def load_annotator(root: str, which: str = "latest") -> tuple[str, LogReg, dict | None]:
    """(id, model, its annotators.parquet row) for ``latest``, an annotator id, ``demo`` (the model
    shipped with hggt) or a model.json path or URL."""
    if which == "demo" or which.endswith(".json"):
        url = str(DEMO_ANNOTATOR) if which == "demo" else which
        if not storage.exists(url):
            raise FileNotFoundError(f"learned annotator {url} does not exist" + (" (`make demo-annotator` makes it)" if which == "demo" else ""))
        return which, LogReg.from_json(storage.read_bytes(url), url), None
    rows = manifests.read_or_empty(root, "annotators").to_pylist()
    if not rows:
        raise ValueError(f"no learned annotator in {root} yet: run `hggt annotator train --out {root}` (or use --annotator demo)")
    if which == "latest":
        row = max(rows, key=lambda r: (r["created_at"], r["annotator_id"]))
    else:
        row = next((r for r in rows if r["annotator_id"] == which), None)
        if row is None:
            raise ValueError(f"unknown learned annotator {which!r}; this dataset has {', '.join(sorted(r['annotator_id'] for r in rows))}")
    url = storage.resolve(root, row["uri"])
    if not storage.exists(url):
        raise FileNotFoundError(f"learned annotator {row['annotator_id']}: its model file {url} is missing; train it again")
    data = storage.read_bytes(url)
    if storage.sha256_bytes(data) != row["sha256"]:
        raise ValueError(f"learned annotator {row['annotator_id']}: {url} changed since it was trained (sha256 differs); train it again")
    return row["annotator_id"], LogReg.from_json(data, url), row


@task(name="annotator-train", persist_result=False)
def train_task(root: str, cfg: AnnotatorConfig, ship: str | None = None) -> dict:
    """Fit on the train side's votes; annotators/<id>/model.json and a row of annotators.parquet.
    The same votes and config give the same id: a model that is already there and intact is kept.
    The summary carries its temperature, its calibration on held-back train sets and any warning."""
    started = time.perf_counter()
    if not storage.exists(manifests.manifest_url(root, "splits")):
        raise ValueError("no held-out split yet: run `hggt split` first, so that the annotator never learns from the test photos")
    splits = manifests.read(root, "splits").to_pylist()
    chosen = train_votes(manifests.read(root, "votes").to_pylist(), splits, cfg.votes)
    fingerprint = data_fingerprint(chosen)
    aid = annotator_id(cfg, fingerprint)
    known = {r["annotator_id"]: r for r in manifests.read_or_empty(root, "annotators").to_pylist()}
    url = storage.join(root, catalog.annotator_model(aid))
    if aid in known and storage.holds(url, known[aid]["sha256"]):
        row, computed = known[aid], False
        data = storage.read_bytes(url)
    else:
        features = compute_features(root, _versions((v["set_id"], v["version"]) for v in chosen))
        model, record = train(chosen, features, cfg)
        # Nothing about where the dataset lives: the same votes give the same file anywhere.
        fitted = {k: record[k] for k in ("train_accuracy", "majority_label", "majority_share", "calibration", "warnings")}
        data = model.to_json(annotator_id=aid, trained_on=f"{cfg.votes} votes of {record['votes']} on {record['sets']} train-side sets",
                             config=cfg.model_dump(mode="json"), data_fingerprint=fingerprint, fit=fitted)
        written = storage.atomic_write(url, data)
        row = {"annotator_id": aid, "kind": "logreg", "features": ",".join(cfg.feature_names), "votes_source": cfg.votes,
               "train_sets": record["sets"], "train_items": record["items"], "train_votes": record["votes"],
               "iterations": record["iterations"], "train_loss": record["train_loss"], "train_accuracy": record["train_accuracy"],
               "config_hash": cfg.hash, "config_json": cfg.to_json(), "data_fingerprint": fingerprint,
               "split_fingerprint": split_fingerprint(splits), "uri": catalog.annotator_model(aid), "sha256": written.sha256,
               "bytes": written.size, "seconds": time.perf_counter() - started, "created_at": dt.datetime.now(UTC)}
        table = manifests.merge("annotators", [manifests.read_or_empty(root, "annotators"), manifests.to_table("annotators", [row])])
        manifests.write(root, "annotators", table)
        computed = True
    if ship:
        storage.atomic_write(ship, data)
    keep = ("annotator_id", "votes_source", "train_sets", "train_items", "train_votes", "iterations", "train_loss", "train_accuracy",
            "bytes", "config_hash")
    stored = json.loads(data)  # a kept model reports what it was trained with
    fitted = stored.get("fit", {})
    return {**{k: row[k] for k in keep}, "majority_share": fitted.get("majority_share"), "temperature": stored["temperature"],
            "calibration": fitted.get("calibration"), "warnings": fitted.get("warnings", []), "computed": computed, "model": url,
            "shipped_to": ship}


def predictions(root: str, model: LogReg, set_ids: list[str]) -> tuple[list[Item], object]:
    """The model's vote distribution for every version of each set, items in sorted order."""
    images = set_images(root, set(set_ids))
    wanted = {s: sorted(f for f in images.get(s, {}) if f != "original") for s in set_ids}
    features = compute_features(root, wanted, "annotator-predict")
    items = sorted(features)
    return items, predict(model, items, features)


def triage_sets(root: str, candidates: list[str], order: str = "rank", skip_confident: float | None = None,
                which: str = "latest", annotators: int = 3) -> dict:
    """Order and skip decisions for sets about to be exported, recorded in triage.parquet. Without
    ``order``/``skip_confident`` the recorded decisions stand: a set once skipped stays out of
    annotation until an export with --skip-confident decides again."""
    if order not in triage_core.ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(triage_core.ORDERS)}")
    recorded = manifests.read_or_empty(root, "triage").to_pylist()
    if order == "rank" and skip_confident is None:
        skipped = {r["set_id"] for r in recorded if r["decision"] == "skipped"}
        return {"annotate": [s for s in candidates if s not in skipped], "skipped": [s for s in candidates if s in skipped],
                "keep_order": False, "annotator": None}
    aid, model, _ = load_annotator(root, which)
    items, proba = predictions(root, model, candidates)
    effective = effective_proba(proba, annotators)  # the label the set would get from `annotators` people
    rows = triage_core.plan(candidates, all_similar_probability(items, effective), triage_core.set_uncertainty(items, effective),
                            order, skip_confident)
    now = dt.datetime.now(UTC)
    rows = [{**r, "annotator_id": aid, "decided_at": now} for r in rows]
    manifests.write(root, "triage", manifests.merge("triage", [manifests.to_table("triage", recorded), manifests.to_table("triage", rows)]))
    ordered = sorted((r for r in rows if r["decision"] == "annotate"), key=lambda r: r["position"])
    return {"annotate": [r["set_id"] for r in ordered], "skipped": [r["set_id"] for r in rows if r["decision"] == "skipped"],
            "keep_order": order == "uncertainty", "annotator": aid}


def learned_proxy_votes(root: str, set_ids: list[str], which: str) -> list[dict]:
    """Votes of the learned annotator's three proxy voters (source 'proxy') for ``set_ids``."""
    _, model, _ = load_annotator(root, which)
    items, proba = predictions(root, model, set_ids)
    return triage_core.learned_votes(items, proba)
