"""Prefect task of the annotation export: assignments, repeats, tokens and the published-layout
copy of the sets, for a new campaign or one that gains sets and annotators."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path

from prefect import task

from hggt.core import catalog, manifests, storage
from hggt.core.annotation.assignment import assign, display_order, plan_repeats
from hggt.core.annotation.labels import MAX_VERSIONS, MIN_VERSIONS
from hggt.core.annotation.store import AnnotationStore, store_for
from hggt.core.config import HGGTConfig
from hggt.tasks.progress import run_logger


def _set_images(root: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for r in manifests.read(root, "set_images").to_pylist():
        out[r["set_id"]][r["file"]] = storage.resolve(root, r["uri"])
    return out


def _is_current(src: str, dst: str) -> bool:
    """Whether the published copy is still the artifact: the same file (a hard link) or the same bytes.
    A recomputed artifact is a new file (written atomically), so a link to the old one is stale."""
    if "://" not in src and "://" not in dst:
        try:
            if os.path.samefile(src, dst):
                return True
            if os.path.getsize(src) != os.path.getsize(dst):
                return False
        except FileNotFoundError:
            return False
    elif not storage.exists(dst):
        return False
    return storage.sha256_bytes(storage.read_bytes(src)) == storage.sha256_bytes(storage.read_bytes(dst))


def _publish_layout(root: str, assignments: list[dict], images: dict[str, dict[str, str]]) -> int:
    """The sets in the published layout, annotation/images/<batch>/{original,01..04}/, for other tools:
    hard links where the filesystem allows, copies elsewhere. Every run re-links (or re-copies) each
    copy that is no longer its artifact; returns how many it replaced."""
    batches = {a["set_id"]: a["batch"] for a in assignments}
    replaced = 0
    for set_id, files in images.items():
        for file, src in files.items():
            name = f"{set_id}.png" if file == "original" else f"{set_id}_{file}.png"
            dst = storage.join(root, catalog.published_copy(batches[set_id], file, name))
            if _is_current(src, dst):
                continue
            replaced += storage.exists(dst)
            storage.link_or_write(src, dst)
    return replaced


def _private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def write_tokens(store: AnnotationStore, tokens: dict[str, str], keep: bool = False) -> Path:
    """The tokens, readable by the dataset's owner only, for runs started from the dashboard;
    ``keep`` adds to the file instead of replacing it (annotators joining a campaign)."""
    path = store.path.parent / catalog.ANNOTATOR_TOKENS
    old = {}
    if keep and path.is_file():
        old = dict(line.split("\t#token=", 1) for line in path.read_text().splitlines() if "\t#token=" in line)
    merged = {**old, **tokens}
    return _private(path, "".join(f"{name}\t#token={token}\n" for name, token in sorted(merged.items())))


def write_admin_token(store: AnnotationStore, token: str) -> Path:
    return _private(store.path.parent / catalog.ADMIN_TOKEN, f"#admin={token}\n")


def _assign_new_sets(root: str, cfg: HGGTConfig, store: AnnotationStore | None, set_ids: list[str],
                     images: dict[str, dict[str, str]], annotators: list[str],
                     keep_order: bool = False) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows of sets, assignments and repeats for sets not in the store yet, as batches after the
    existing ones, the least loaded annotators first so loads stay balanced."""
    acfg = cfg.annotation
    # The sets' own versions (those of set_images.parquet): sets imported from the published dataset
    # have 01..04 whatever the config says. Each needs the original and 2 to 8 versions.
    versions = {s: tuple(sorted(set(images.get(s, {})) - {"original"})) for s in set_ids}
    missing = [s for s in set_ids if "original" not in images.get(s, {}) or not MIN_VERSIONS <= len(versions[s]) <= MAX_VERSIONS]
    if missing:
        raise ValueError(f"{len(missing)} sets lack their original or have fewer than {MIN_VERSIONS} versions "
                         f"(first: {missing[0]}, with {', '.join(sorted(images.get(missing[0], {}))) or 'no images'}); re-run `hggt select`")
    existing = store.assignments() if store is not None else []
    loads = Counter({name: 0 for name in annotators}) + Counter(a["annotator"] for a in existing)
    ordered = sorted(annotators, key=lambda n: (loads[n], annotators.index(n)))
    first_batch = max((a["batch"] for a in existing), default=-1) + 1
    first_position = max((a["position"] for a in existing), default=-1) + 1
    assignments = assign(set_ids, ordered, acfg.per_set, acfg.batch_size, cfg.seed, first_batch, first_position)
    if keep_order:  # --order uncertainty: the learned annotator's least certain sets fill the first slots
        from hggt.core.annotator.triage import keep_order as fill_in_order

        assignments = fill_in_order(assignments, set_ids)
    repeats = plan_repeats(assignments, acfg.repeat_share, acfg.repeat_gap, cfg.seed, versions)
    sets = [{"set_id": s, "display_order": display_order(s, cfg.seed, versions[s]), "images": images[s]} for s in set_ids]
    return sets, assignments, repeats


def _record_assignments(root: str, store: AnnotationStore) -> None:
    orders = {s["set_id"]: ",".join(s["display_order"]) for s in store.sets()}
    rows = [{**a, "display_order": orders[a["set_id"]]} for a in store.assignments()]
    manifests.write(root, "assignments", manifests.to_table("assignments", rows))


def _differs(stored: list[str], wanted: list[str], root: str) -> str:
    new, gone = sorted(set(wanted) - set(stored)), sorted(set(stored) - set(wanted))
    return (f"this dataset was exported for annotators {', '.join(stored)}; you named {', '.join(wanted)}"
            f"{' (new: ' + ', '.join(new) + ')' if new else ''}{' (missing: ' + ', '.join(gone) + ')' if gone else ''}. "
            f"To add annotators to the running campaign (tokens, assignments and votes are kept; they take part in the sets "
            f"added from now on): `hggt annotate add --out {root} --annotators {','.join(new) or 'NAME'}`. To start over with "
            f"the new list, delete {store_for(root).path.parent} (this discards every vote in it) and export again.")


@task(name="annotate-export", persist_result=False)
def export_task(root: str, cfg: HGGTConfig, annotators: list[str] | None = None, add_annotators: list[str] | None = None,
                order: str = "rank", skip_confident: float | None = None, annotator: str = "latest") -> dict:
    """Assign every set to annotators and create the annotation database. On a running campaign,
    sets that are new in sets.parquet are added as new batches and ``add_annotators`` join it;
    existing tokens, assignments and votes are never touched. ``annotators``, when given, must be
    the campaign's list: a different one is an error that says how to add people or start over."""
    store = store_for(root)
    acfg = cfg.annotation
    images = _set_images(root)
    set_ids = [r["set_id"] for r in manifests.read(root, "sets").sort_by("rank").to_pylist()]
    # The learned annotator's triage (hggt.tasks.annotator): order new sets, leave confident all-Similar ones out.
    from hggt.tasks.annotator import triage_sets

    exported = {s["set_id"] for s in store.sets()} if store.exists() else set()
    triage = triage_sets(root, [s for s in set_ids if s not in exported], order, skip_confident, annotator, acfg.per_set)
    set_ids = [s for s in set_ids if s in exported] + triage["annotate"]
    if not store.exists():
        names = list(annotators or acfg.annotators) + list(add_annotators or [])
        sets, assignments, repeats = _assign_new_sets(root, cfg, None, set_ids, images, names, triage["keep_order"])
        tokens = store.create(sets, assignments, repeats, {"min_seconds": acfg.min_seconds, "repeat_share": acfg.repeat_share,
                                                           "repeat_gap": acfg.repeat_gap, "seed": cfg.seed})
        admin = store.issue_admin_token()
        write_tokens(store, tokens)
        write_admin_token(store, admin)
        created, added_sets = True, set_ids
    else:
        stored = store.annotators()
        if annotators is not None and sorted(annotators) != stored:
            raise ValueError(_differs(stored, list(annotators), root))
        clash = sorted(set(add_annotators or []) & set(stored))
        if clash:
            raise ValueError(f"annotator(s) {', '.join(clash)} already take part in this campaign")
        tokens = store.add_annotators(list(add_annotators)) if add_annotators else {}
        if tokens:
            write_tokens(store, tokens, keep=True)
        known = {s["set_id"] for s in store.sets()}
        added_sets = [s for s in set_ids if s not in known]
        if added_sets:
            sets, assignments, repeats = _assign_new_sets(root, cfg, store, added_sets, images, store.annotators(), triage["keep_order"])
            store.add_sets(sets, assignments, repeats)
        created, admin = False, None
    if created:  # where the campaign is served, for `hggt annotate serve` and the printed links
        app_json = {"host": acfg.host, "port": acfg.port, "allowed_hosts": list(acfg.allowed_hosts)}
        (store.path.parent / catalog.APP_SETTINGS).write_text(json.dumps(app_json, indent=2))
    if added_sets or created:
        _record_assignments(root, store)
    known = {s["set_id"] for s in store.sets()}
    relinked = _publish_layout(root, store.assignments(), {s: f for s, f in images.items() if s in known})
    if relinked:
        run_logger().warning("annotation/images: %d copies no longer matched their artifact and were replaced", relinked)
    loads = Counter(a["annotator"] for a in store.assignments())
    asked = ([f"--order {order}"] if order != "rank" else []) + ([f"--skip-confident {skip_confident}"] if skip_confident is not None else [])
    triage_note = None
    if asked and not created:  # they cannot reorder or withdraw sets already handed out
        effect = f"applied to the {len(added_sets)} new sets only" if added_sets else "changed nothing: this campaign has no new sets"
        triage_note = (f"{' and '.join(asked)} {effect}; sets already handed out keep their order and assignments "
                       "(a new campaign triages them all)")
        run_logger().warning(triage_note)
    return {"skipped_sets": len(triage["skipped"]), "order": order, "triage_note": triage_note, "learned_annotator": triage["annotator"],
            "created": created, "relinked": relinked, "tokens": tokens, "admin_token": admin, "sets": len(store.sets()), "added_sets": len(added_sets),
            "annotators": store.annotators(), "added_annotators": sorted(add_annotators or []) if not created else [],
            "loads": dict(sorted(loads.items())), "repeats": len(store.repeats()),
            "batches": max((a["batch"] for a in store.assignments()), default=-1) + 1}


def refresh_published(root: str) -> int:
    """Re-link the published copies of a running campaign's sets after a stage rewrote their images."""
    store = store_for(root)
    if not store.exists():
        return 0
    images, known = _set_images(root), {s["set_id"] for s in store.sets()}
    return _publish_layout(root, store.assignments(), {s: f for s, f in images.items() if s in known})
