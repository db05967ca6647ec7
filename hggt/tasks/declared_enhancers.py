"""Prefect task of the train-enhancers stage for declared enhancers: each model file is read,
loaded through Spandrel (which checks that it is a usable image model), copied into the dataset
beside the trained ones and recorded in enhancers.parquet; nothing is trained."""

from __future__ import annotations

import datetime as dt
import os

from prefect import get_run_logger, task

from hggt.core import manifests, storage
from hggt.core.config import HGGTConfig
from hggt.core.declared_enhancers import DeclaredModelError, inspect_declared, model_suffix
from hggt.core.sizes import DeclaredEnhancer
from hggt.core.stage_work.enhance import DECLARED as KIND
from hggt.tasks.adopt import keep_enhancer
from hggt.tasks.code_closure import code_version_of
from hggt.core.stage_runs import record_stage_run

STAGE = "train-enhancers"
CODE = code_version_of(__name__)


def _source_url(model: str) -> str:
    return model if "://" in model else os.path.abspath(os.path.expanduser(model))


def declared_row(spec: DeclaredEnhancer, root: str, cfg: HGGTConfig) -> tuple[dict, bool]:
    """The enhancers.parquet row of one declared model and whether the dataset already held its
    copy (``enhancers/<version>/model<suffix>``, hggt.tasks.adopt)."""
    source = _source_url(spec.model)
    suffix = model_suffix(spec.model)
    try:
        data = storage.read_bytes(source)
    except FileNotFoundError:
        raise DeclaredModelError(f"enhancer {spec.version}: declared model file {spec.model} does not exist") from None
    facts = inspect_declared(data, spec.model, spec.scale)  # the checks `hggt show-config` makes too
    scale = facts["scale"]
    uri, sha, held = keep_enhancer(data, root, spec.version, suffix)
    row = {
        "version": spec.version, "arch": facts["arch"], "setting": None, "iterations": 0, "checkpoint_uri": uri,
        "sha256": sha, "config_hash": cfg.section_hash("enhancers"), "parameters": facts["parameters"], "perceptual": False,
        "source": source, "kind": KIND, "scale": scale,
    }
    return row, held


@task(name="record-declared-enhancers", persist_result=False)
def record_declared(specs: list[DeclaredEnhancer], root: str, cfg: HGGTConfig, started_at: dt.datetime, alone: bool) -> dict:
    """Record every declared enhancer in enhancers.parquet (merged with the trained ones' rows).
    ``alone``: no enhancer is trained in this run, so this is the stage's run record too."""
    logger = get_run_logger()
    rows, held = [], 0
    for spec in specs:
        row, was_held = declared_row(spec, root, cfg)
        rows.append(row)
        held += was_held
        logger.info("enhancer %s: declared %s, %s %dx, %d parameters (not trained)", spec.version, spec.model,
                    row["arch"], row["scale"], row["parameters"])
    table = manifests.merge("enhancers", [manifests.read_or_empty(root, "enhancers"), manifests.to_table("enhancers", rows)])
    manifests.write_if_changed(root, "enhancers", table)
    summary = {"declared": {r["version"]: f"{r['arch']} {r['scale']}x" for r in rows}}
    if alone:
        counts = {"items": len(rows), "rejected": 0, "shards": len(rows), "shards_cached": held, "computed": len(rows) - held}
        summary.update(counts, enhancers={r["version"]: r["checkpoint_uri"] for r in rows})
        summary["run_id"] = record_stage_run(root, STAGE, cfg, CODE, started_at, counts)
    return summary
