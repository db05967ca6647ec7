"""Prefect task of the train-enhancers stage: one task run per enhancer, tagged for GPU slots."""

from __future__ import annotations

import json
import posixpath
import time

from prefect import get_run_logger, task

from hggt_core import manifests, storage
from hggt_core.archs import generator_from_payload, parameter_count
from hggt_core.checkpoints import torch_load
from hggt_core.archs.discriminator import UNetDiscriminator
from hggt_core.archs.vgg import resolve_vgg19_weights
from hggt_core.config import HGGTConfig
from hggt_core.enhancement import EnhancerBatches, EnhancerSpec, build_enhancer, enhancer_payload, pretrained_problem
from hggt_core.images import decode_image
from hggt_core.seeding import item_seed_sequence
from hggt_core.training.data import HRCropSampler
from hggt_core.training.losses import PerceptualLoss
from hggt_core.training.loop import restore, run_training
from hggt_core.training.trainer import GANTrainer, resolve_device, seed_everything
from tasks.caching import KEYED_CACHE, code_version, fingerprint
from tasks.training_io import NOT_IN_KEY, checkpoint_writer, latest_checkpoint, loss_logger, publish_speed, to_bytes

STAGE = "train-enhancers"
CODE = code_version(
    "hggt_core.archs.rcan", "hggt_core.archs.elan", "hggt_core.archs.common", "hggt_core.archs.discriminator",
    "hggt_core.archs.vgg", "hggt_core.training.trainer", "hggt_core.training.loop", "hggt_core.training.data",
    "hggt_core.training.pool", "hggt_core.training.ema", "hggt_core.training.losses", "hggt_core.enhancement",
    "hggt_core.degradation.batched", "hggt_core.degradation.settings", "hggt_core.degradation.kernels",
)


def enhancer_dir(root: str, version: str) -> str:
    return storage.join(root, "enhancers", version)


def compatibility_key(spec: EnhancerSpec, cfg: HGGTConfig, hr_fingerprint: str) -> str:
    train = cfg.enhancers.train.model_dump(mode="json", exclude=set(NOT_IN_KEY))
    sizes = getattr(cfg.enhancers, spec.arch).model_dump(mode="json")
    setting = cfg.degrade.named(spec.setting).model_dump(mode="json")
    return fingerprint([spec.model_dump(), train, sizes, setting, cfg.seed, hr_fingerprint, CODE])


def _seed(cfg: HGGTConfig, version: str) -> int:
    return int(item_seed_sequence(cfg.seed, STAGE, version).generate_state(1)[0])


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
    started = time.perf_counter()
    tcfg = cfg.enhancers.train
    folder = enhancer_dir(root, spec.version)
    checkpoints = storage.join(folder, "checkpoints")
    key = compatibility_key(spec, cfg, hr_fingerprint)
    finished = finished_record(folder, key, tcfg.iterations) if resume else None
    if finished is not None:
        logger.info("enhancer %s was trained to iteration %d already (record.json beside model.pt)", spec.version, tcfg.iterations)
        return {**finished, "reused": True}
    dev = resolve_device(device)
    seed = _seed(cfg, spec.version)
    seed_everything(seed, tcfg.deterministic)
    perceptual = None
    if tcfg.perceptual_weight > 0:
        perceptual = PerceptualLoss(tcfg.perceptual_layers, str(resolve_vgg19_weights(tcfg.perceptual_weights)))
    else:
        logger.warning("enhancer %s trains WITHOUT the perceptual term (perceptual_weight=0); recorded in enhancers.parquet", spec.version)

    def load(i: int):
        return decode_image(storage.read_bytes(hr_uris[i]), cfg.ingest.max_pixels).rgb

    sampler = HRCropSampler(len(hr_uris), load, tcfg.gt_size, tcfg.image_buffer, tcfg.refresh_every, seed)
    data = EnhancerBatches(sampler, cfg.degrade.named(spec.setting), dev)
    options = getattr(cfg.enhancers, spec.arch).model_dump()
    generator = build_enhancer(spec.arch, cfg.enhancers.rcan, cfg.enhancers.elan)
    trainer = GANTrainer(generator, UNetDiscriminator(tcfg.discriminator_channels), tcfg, perceptual, dev, seed)

    state = latest_checkpoint(checkpoints, key) if resume else None
    if state is not None:
        restore(trainer, data, state)
        logger.info("enhancer %s resumes from iteration %d", spec.version, trainer.iteration)

    on_log, history = loss_logger(f"enhancer-{spec.version}", f"enhancer {spec.version} ({spec.arch}, setting {spec.setting})", tcfg.iterations,
                                  root, STAGE, f"enhancer {spec.version}", folder, trainer.iteration)
    on_checkpoint = checkpoint_writer(checkpoints, key, tcfg.keep_checkpoints)
    try:
        logs = run_training(trainer, data, tcfg.iterations, on_log, on_checkpoint)
    finally:
        on_log.close()
    # A run resumed at its last checkpoint trains nothing: its final losses are the curve's last row.
    logs = logs or {k: v for k, v in (history[-1] if history else {}).items() if k != "iteration"}
    publish_speed(f"enhancer-{spec.version}-speed", f"enhancer {spec.version}", trainer.speed, root)
    payload = enhancer_payload(spec, options, trainer.inference_model(), cfg.section_hash("enhancers"), trainer.iteration)
    uri = posixpath.join("enhancers", spec.version, "model.pt")
    written = storage.atomic_write(storage.resolve(root, uri), to_bytes(payload))
    row = {
        "version": spec.version, "arch": spec.arch, "setting": spec.setting, "iterations": trainer.iteration,
        "checkpoint_uri": uri, "sha256": written.sha256, "config_hash": cfg.section_hash("enhancers"),
        "parameters": parameter_count(generator), "perceptual": perceptual is not None,
        "final_l1": logs.get("l1"), "final_perceptual": logs.get("perceptual"), "final_gan": logs.get("gan"),
        "final_d_real": logs.get("d_real"), "final_d_fake": logs.get("d_fake"),
        "seconds": time.perf_counter() - started, "device": str(dev), "source": "trained",
    }
    prior = _read_record(folder)
    if state is not None and prior and prior.get("key") == key:  # an extended run adds the time of the run it continues
        row["seconds"] += prior["row"].get("seconds") or 0.0
    storage.atomic_write(storage.join(folder, RECORD), json.dumps({"key": key, "row": row}, sort_keys=True).encode())
    return row


RECORD = "record.json"


def _read_record(folder: str) -> dict | None:
    try:
        return json.loads(storage.read_bytes(storage.join(folder, RECORD)))
    except (FileNotFoundError, ValueError):
        return None


def finished_record(folder: str, key: str, iterations: int) -> dict | None:
    """The enhancers.parquet row recorded when this enhancer finished training, if its model file is
    still the one recorded: the facts (losses, seconds, device) travel with the model, so a run
    outside the Prefect cache that produced it (another PREFECT_HOME, machine or location) keeps them."""
    record = _read_record(folder)
    if not record or record.get("key") != key or record["row"].get("iterations") != iterations:
        return None
    row = record["row"]
    model = storage.join(folder, "model.pt")
    if not storage.exists(model) or storage.sha256_bytes(storage.read_bytes(model)) != row["sha256"]:
        return None
    return row


@task(name="adopt-enhancer", persist_result=False)
def adopt_enhancer(spec: EnhancerSpec, folder: str, root: str, cfg: HGGTConfig) -> tuple[dict, bool]:
    """Use the ready file `<folder>/<version>.pt` as enhancer ``spec`` after checking that it is
    that enhancer at the config's size; returns its enhancers.parquet row and whether the dataset
    already held it. Its training record (`record.json` beside it) fills in the loss columns."""
    source = storage.join(folder, f"{spec.version}.pt")
    if not storage.exists(source):
        raise FileNotFoundError(f"enhancers.pretrained: no {source}; train the enhancers instead (--set enhancers.pretrained=null)")
    data = storage.read_bytes(source)
    payload = torch_load(data, source)
    problem = pretrained_problem(payload, spec, getattr(cfg.enhancers, spec.arch).model_dump())
    if problem:
        raise ValueError(f"enhancers.pretrained: {source} cannot be enhancer {spec.version}: {problem}. Set the network "
                         "options to the file's, or train instead with --set enhancers.pretrained=null")
    generator = generator_from_payload(payload)
    record_url = storage.join(folder, "record.json")
    record = json.loads(storage.read_bytes(record_url)).get(spec.version, {}) if storage.exists(record_url) else {}
    uri = posixpath.join("enhancers", spec.version, "model.pt")
    target = storage.resolve(root, uri)
    held = storage.exists(target) and storage.sha256_bytes(storage.read_bytes(target)) == storage.sha256_bytes(data)
    written = storage.atomic_write(target, data) if not held else None
    row = {
        "version": spec.version, "arch": spec.arch, "setting": spec.setting, "iterations": payload.get("iterations", 0),
        "checkpoint_uri": uri, "sha256": written.sha256 if written else storage.sha256_bytes(data),
        "config_hash": cfg.section_hash("enhancers"), "parameters": parameter_count(generator),
        "perceptual": bool(record.get("perceptual", False)), "seconds": record.get("seconds"), "device": record.get("device"),
        **{k: record.get(k) for k in ("final_l1", "final_perceptual", "final_gan", "final_d_real", "final_d_fake")},
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
def finalize_training(root: str, rows: list[dict]) -> dict:
    table = manifests.merge("enhancers", [manifests.read_or_empty(root, "enhancers"), manifests.to_table("enhancers", rows)])
    manifests.write_if_changed(root, "enhancers", table)
    return {"items": len(rows), "enhancers": {r["version"]: r["checkpoint_uri"] for r in rows}}
