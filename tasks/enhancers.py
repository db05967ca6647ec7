"""Prefect tasks of the train-enhancers stage: one task run per enhancer, tagged for GPU slots.
The training is hggt_core.training.recipe; what is an enhancer's is its run spec."""

from __future__ import annotations

import json

from prefect import get_run_logger, task

from hggt_core import catalog, manifests, networks, storage
from hggt_core.archs import generator_from_payload, parameter_count
from hggt_core.checkpoints import torch_load
from hggt_core.config import HGGTConfig
from hggt_core.enhancement import EnhancerBatches, EnhancerSpec, enhancer_options, enhancer_payload, pretrained_problem
from hggt_core.images import decode_image
from hggt_core.networks import ENHANCER
from hggt_core.seeding import item_seed_sequence
from hggt_core.training.data import single_images
from hggt_core.training.recipe import LOSS_COLUMNS, GANRun, train_gan
from hggt_core.training.sampling import make_sampler
from hggt_core.training.store import NOT_IN_KEY, finished_record, read_record, write_record
from tasks.adopt import keep_enhancer
from tasks.caching import KEYED_CACHE, fingerprint
from tasks.code_closure import code_version_of
from tasks.training_io import run_hooks

STAGE = "train-enhancers"
CODE = code_version_of(__name__, *networks.modules(ENHANCER))


def enhancer_dir(root: str, version: str) -> str:
    return storage.join(root, catalog.enhancer_dir(version))


def compatibility_key(spec: EnhancerSpec, cfg: HGGTConfig, hr_fingerprint: str) -> str:
    train = cfg.enhancers.train.model_dump(mode="json", exclude=set(NOT_IN_KEY))
    sizes = enhancer_options(spec.arch, cfg.enhancers)
    setting = cfg.degrade.named(spec.setting).model_dump(mode="json")
    return fingerprint([spec.model_dump(), train, sizes, setting, cfg.seed, hr_fingerprint, CODE])


def _seed(cfg: HGGTConfig, version: str) -> int:
    return int(item_seed_sequence(cfg.seed, STAGE, version).generate_state(1)[0])


def enhancer_run(spec: EnhancerSpec, hr_uris: list[str], root: str, cfg: HGGTConfig, key: str, device: str, resume: bool) -> GANRun:
    """Enhancer ``spec`` as a run of the GAN recipe: HR crops degraded on the fly with its Table 1 setting."""
    tcfg, options, config_hash = cfg.enhancers.train, enhancer_options(spec.arch, cfg.enhancers), cfg.section_hash("enhancers")

    def load(i: int):
        return decode_image(storage.read_bytes(hr_uris[i]), cfg.ingest.max_pixels).rgb

    def batches(seed: int, dev) -> EnhancerBatches:
        # Flips and transposes: the authors' enhancer configs set use_hflip and use_rot.
        sampler = make_sampler(tcfg.sampling, len(hr_uris), single_images(load), tcfg.gt_size, seed, dihedral=True,
                               buffer=tcfg.image_buffer, refresh_every=tcfg.refresh_every)
        return EnhancerBatches(sampler, cfg.degrade.named(spec.setting), dev)

    return GANRun(
        name=f"enhancer {spec.version}", arch=spec.arch, options=options, train=tcfg, seed=_seed(cfg, spec.version),
        device=device, batches=batches, root=root, model_uri=catalog.enhancer_model(spec.version),
        checkpoints=storage.join(enhancer_dir(root, spec.version), "checkpoints"), key=key, config_hash=config_hash,
        payload=lambda model, iterations: enhancer_payload(spec, options, model, config_hash, iterations), resume=resume,
        without_perceptual=f"enhancer {spec.version} trains WITHOUT the perceptual term (perceptual_weight=0); recorded in enhancers.parquet",
    )


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
    key = compatibility_key(spec, cfg, hr_fingerprint)
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
