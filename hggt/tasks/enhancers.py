"""Prefect tasks of the train-enhancers stage: one task run per enhancer, tagged for GPU slots.
The training is hggt.core.training.recipe; an enhancer's run spec is hggt.core.enhancer_runs."""

from __future__ import annotations

import json

from prefect import get_run_logger, task

from hggt.core import catalog, manifests, networks, storage
from hggt.core.archs import generator_from_payload, parameter_count
from hggt.core.checkpoints import torch_load
from hggt.core.config import HGGTConfig
from hggt.core.enhancement import EnhancerSpec, enhancer_options, pretrained_problem
from hggt.core.enhancer_runs import compatibility_key, enhancer_dir, enhancer_run
from hggt.core.networks import ENHANCER
from hggt.core.training.recipe import LOSS_COLUMNS, train_gan
from hggt.core.training.store import finished_record, read_record, write_record
from hggt.tasks.adopt import keep_enhancer
from hggt.tasks.caching import KEYED_CACHE, fingerprint
from hggt.tasks.code_closure import code_version_of
from hggt.tasks.training_io import run_hooks

STAGE = "train-enhancers"
CODE = code_version_of(__name__, *networks.modules(ENHANCER))


@task(name="train-enhancer", tags=["gpu"], cache_policy=KEYED_CACHE, persist_result=True)
def train_enhancer(
    spec: EnhancerSpec,
    hr_uris: list[str],
    hr_fingerprint: str,
    root: str,
    cfg: HGGTConfig,
    cache_key: str,
    device: str,
    resume: bool = True,
) -> dict:
    """Train one enhancer, continuing from its latest compatible checkpoint when ``resume``."""
    logger = get_run_logger()
    folder = enhancer_dir(root, spec.version)
    key = compatibility_key(spec, cfg, hr_fingerprint, CODE)
    iterations = cfg.enhancers.train.iterations
    finished = finished_record(folder, key, iterations) if resume else None
    if finished is not None:
        logger.info("enhancer %s was trained to iteration %d already (record.json beside model.pt)", spec.version, iterations)
        return {**finished, "reused": True}
    prior = read_record(folder)
    hooks = run_hooks(f"enhancer-{spec.version}", f"enhancer {spec.version} ({spec.arch}, setting {spec.setting})", iterations,
                      root, STAGE, f"enhancer {spec.version}", folder, f"enhancer {spec.version}", logger)
    # A stop request raises TrainingStopped: a failed task run is never cached, so the next one resumes.
    trained = train_gan(enhancer_run(spec, hr_uris, root, cfg, key, device, resume), hooks)
    row = {"version": spec.version, "arch": spec.arch, "setting": spec.setting, **trained.row, "source": "trained"}
    if trained.resumed and prior and prior.get("key") == key:  # an extended run adds the time of the run it continues
        row["seconds"] += prior["row"].get("seconds") or 0.0
    write_record(folder, key, row)
    return row


@task(name="adopt-enhancer", persist_result=False)
def adopt_enhancer(spec: EnhancerSpec, folder: str, root: str, cfg: HGGTConfig) -> tuple[dict, bool]:
    """Use the ready file `<folder>/<version>.pt` as enhancer ``spec`` after checking that it is
    that enhancer at the config's size; returns its enhancers.parquet row and whether the dataset
    already held it. Its training record (`record.json` beside it) fills in the loss columns."""
    source = storage.join(folder, catalog.pretrained_model(spec.version))
    if not storage.exists(source):
        raise FileNotFoundError(f"enhancers.pretrained: no {source}; train the enhancers instead (--set enhancers.pretrained=null)")
    data = storage.read_bytes(source)
    payload = torch_load(data, source)
    problem = pretrained_problem(payload, spec, enhancer_options(spec.arch, cfg.enhancers))
    if problem:
        raise ValueError(f"enhancers.pretrained: {source} cannot be enhancer {spec.version}: {problem}. Set the network "
                         "options to the file's, or train instead with --set enhancers.pretrained=null")
    generator = generator_from_payload(payload)
    record_url = storage.join(folder, catalog.PRETRAINED_RECORD)
    record = json.loads(storage.read_bytes(record_url)).get(spec.version, {}) if storage.exists(record_url) else {}
    uri, sha, held = keep_enhancer(data, root, spec.version)
    row = {
        "version": spec.version, "arch": spec.arch, "setting": spec.setting, "iterations": payload.get("iterations", 0),
        "checkpoint_uri": uri, "sha256": sha,
        "config_hash": cfg.section_hash("enhancers"), "parameters": parameter_count(generator),
        "perceptual": bool(record.get("perceptual", False)), "seconds": record.get("seconds"), "device": record.get("device"),
        **{k: record.get(k) for k in LOSS_COLUMNS},
        "source": source,
    }
    return row, held


@task(name="plan-train-enhancers", persist_result=False)
def plan_training(root: str, hr_folder: str | None, cfg: HGGTConfig) -> tuple[list[str], str]:
    """HR images to train on (a folder the user names, else the dataset's ingested images) and a
    fingerprint of their content."""
    if hr_folder:
        files = storage.list_files(hr_folder, cfg.ingest.extensions)
        uris, stamps = [f.url for f in files], [f.ukey for f in files]
    else:
        rows = [r for r in manifests.read(root, "images").to_pylist() if r["status"] == "ok"]
        uris, stamps = [r["uri"] for r in rows], [r["sha256"] for r in rows]
    if not uris:
        raise ValueError("no HR images to train the enhancers on: run `hggt ingest` or pass --hr-folder")
    return uris, fingerprint([uris, stamps])


@task(name="merge-enhancers", persist_result=False)
def merge_enhancers(root: str, rows: list[dict]) -> dict:
    table = manifests.merge("enhancers", [manifests.read_or_empty(root, "enhancers"), manifests.to_table("enhancers", rows)])
    manifests.write_if_changed(root, "enhancers", table)
    return {"items": len(rows), "enhancers": {r["version"]: r["checkpoint_uri"] for r in rows}}
