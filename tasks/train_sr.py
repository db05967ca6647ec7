"""Prefect tasks of Real-ISR training (stage train-sr): one task run per (arch, mode) run."""

from __future__ import annotations

import base64
import datetime as dt
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torch.distributed as dist
from prefect import task

from hggt_core import catalog, manifests, storage
from hggt_core.archs import build_generator, parameter_count
from hggt_core.archs.discriminator import UNetDiscriminator
from hggt_core.archs.vgg import resolve_vgg19_weights
from hggt_core.checkpoints import load_weights
from hggt_core.config import HGGTConfig
from hggt_core.figures import sample_grid
from hggt_core.dataset import open_dataset
from hggt_core.realisr import SRBatches
from hggt_core.seeding import item_seed_sequence
from hggt_core.splits import TRAIN, split_fingerprint
from hggt_core.torchdata import url_loader
from hggt_core.training.losses import PerceptualLoss, negative_gt_loss
from hggt_core.training import distributed
from hggt_core.training.distributed import global_batch_count
from hggt_core.training.loop import restore, run_training
from hggt_core.training.trainer import GANTrainer, resolve_device, seed_everything
from tasks.caching import KEYED_CACHE, code_version, fingerprint
from tasks.torchrun import launch_torchrun
from tasks.training_io import NOT_IN_KEY, checkpoint_writer, latest_checkpoint, loss_logger, publish_markdown, publish_speed, run_logger, to_bytes

STAGE = "train-sr"
CODE = code_version(
    "hggt_core.archs.rrdbnet", "hggt_core.archs.swinir", "hggt_core.archs.discriminator", "hggt_core.archs.vgg",
    "hggt_core.training.trainer", "hggt_core.training.loop", "hggt_core.training.data", "hggt_core.training.pool",
    "hggt_core.training.ema", "hggt_core.training.losses", "hggt_core.realisr", "hggt_core.maps",
    "hggt_core.degradation.batched", "hggt_core.degradation.settings", "hggt_core.degradation.kernels",
    "hggt_core.checkpoints", "hggt_core.torchdata", "hggt_core.dataset",
)


@task(name="plan-train-sr", persist_result=False)
def plan_sr(root: str, mode: str) -> tuple[list[dict], dict[str, dict[str, str]], str, str]:
    """The train side's sets a mode trains on (psnr and ori: all of them, as the authors' Ori
    models; pos and posneg: the usable ones) with their positive and negative versions, their
    images, a fingerprint of both, and the fingerprint of the split."""
    ds = open_dataset(root)
    sets, images = ds.training_sets(mode, TRAIN)  # the selection HGGTTrainSet makes too
    data_fp = fingerprint([sets, sorted((s, sorted(v.items())) for s, v in images.items())])
    return sets, images, data_fp, split_fingerprint(ds.rows("splits"))


def compatibility_key(arch: str, mode: str, cfg: HGGTConfig, data_fp: str, init_sha: str | None) -> str:
    sr = cfg.train_sr
    parts = [arch, mode, getattr(sr, arch).model_dump(mode="json"), sr.train_for(arch).model_dump(mode="json", exclude=set(NOT_IN_KEY)),
             sr.scale, sr.negative_weight, sr.map_positive, sr.clamp_negative, cfg.degrade.table_2.model_dump(mode="json"), cfg.maps.ksize, cfg.seed, data_fp,
             init_sha, CODE]
    return fingerprint(parts)


def run_id(arch: str, mode: str, key: str) -> str:
    return f"{arch}-{mode}-{key[:8]}"


def resolve_init(root: str, arch: str, mode: str, init: str) -> tuple[str | None, str | None, str | None]:
    """(model file, its sha256, what runs.parquet records as init_run) the GAN modes start from:
    the psnr run's id, or `file:<path>` for a user-given file (ours, BasicSR's or safetensors)."""
    if mode == "psnr" or init == "none":
        return None, None, None
    if init != "auto":
        return init, storage.sha256_bytes(storage.read_bytes(init)), f"file:{init}"
    runs = [r for r in manifests.read_or_empty(root, "runs").to_pylist() if r["arch"] == arch and r["mode"] == "psnr"]
    if not runs:
        raise ValueError(f"no psnr run of {arch} to start from: run `hggt train-sr --arch {arch} --mode psnr` first, or pass --init none")
    latest = max(runs, key=lambda r: r["created_at"])
    return storage.resolve(root, latest["checkpoint_uri"]), latest["sha256"], latest["run_id"]


def sr_batches(sets: list[dict], images: dict[str, dict[str, str]], mode: str, arch: str, cfg: HGGTConfig, dev: torch.device,
               seed: int) -> SRBatches:
    """train-sr's batches: HGGTTrainSet's samples of the planned sets, drawn as its stream draws them."""
    sr = cfg.train_sr
    tcfg = sr.train_for(arch)
    return SRBatches(sets, url_loader(images), mode, tcfg.gt_size, sr.scale, cfg.degrade.table_2, dev, tcfg.image_buffer,
                     tcfg.refresh_every, seed, cfg.maps.ksize, sr.map_positive)


def _samples(trainer: GANTrainer, data: SRBatches, n: int = 3) -> np.ndarray:
    """bicubic | SR | GT for a few training crops (from their own generator, so training RNG is untouched)."""
    batch = data.next_batch(n)
    lq, gt = batch[0], batch[1]
    model = trainer.inference_model()
    with torch.no_grad():
        sr = model(lq.to(trainer.device)).float().cpu().clamp(0, 1)
    bicubic = F.interpolate(lq, size=gt.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    to8 = lambda t: (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    return sample_grid([[to8(bicubic[i]), to8(sr[i]), to8(gt[i].cpu())] for i in range(n)], ["bicubic", "SR", "GT"])


def train_sr_run(
    arch: str, mode: str, sets: list[dict], images: dict[str, dict[str, str]], data_fp: str, root: str, cfg: HGGTConfig,
    device: str, resume: bool, init: tuple[str | None, str | None, str | None],
) -> dict | None:
    """Train one Real-ISR model; returns its runs.parquet row (on rank 0; None on the other ranks
    of a torchrun launch, which draw their own batches and checkpoint through rank 0)."""
    logger = run_logger()
    started = time.perf_counter()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed.active() else (0, 1)
    sr = cfg.train_sr
    tcfg = sr.train_for(arch)
    if mode == "psnr":
        tcfg = tcfg.model_copy(update={"gan_weight": 0.0, "perceptual_weight": 0.0})
    dev = resolve_device(device)
    seed = int(item_seed_sequence(cfg.seed, STAGE, f"{arch}/{mode}").generate_state(1)[0])
    seed_everything(seed, tcfg.deterministic)
    perceptual = None
    if tcfg.perceptual_weight > 0:
        perceptual = PerceptualLoss(tcfg.perceptual_layers, str(resolve_vgg19_weights(tcfg.perceptual_weights)))
    elif mode != "psnr" and rank == 0:
        logger.warning("%s/%s trains WITHOUT the perceptual term (perceptual_weight=0); recorded in runs.parquet", arch, mode)
    generator = build_generator(arch, **getattr(sr, arch).model_dump())
    init_path, init_sha, init_run = init
    if init_path:
        init_bytes = storage.read_bytes(init_path)
        if storage.sha256_bytes(init_bytes) != init_sha:  # the run's key, and so its cache entry, holds that sha256
            raise ValueError(f"init file {init_path} changed since it was recorded or resolved (sha256 differs); "
                             "re-run the psnr run it came from, or start train-sr again")
        what = load_weights(generator, init_bytes, init_path, f"the {arch} generator of this run")
        logger.info("%s/%s starts from %s (%s)", arch, mode, init_run or init_path, what)

    def batches(seed_: int) -> SRBatches:
        return sr_batches(sets, images, mode, arch, cfg, dev, seed_)

    data = batches(seed + rank)
    trainer = GANTrainer(generator, UNetDiscriminator(tcfg.discriminator_channels), tcfg, perceptual, dev, seed + rank)
    key = compatibility_key(arch, mode, cfg, data_fp, init_sha) + (f"-ddp{world}" if world > 1 else "")
    rid = run_id(arch, mode, key)
    folder = storage.join(root, catalog.run_dir(rid))
    state = latest_checkpoint(storage.join(root, catalog.run_checkpoints(rid)), key) if resume else None
    if state is not None:
        if world > 1:
            state = {**state, "data": state["data"][rank], "trainer": {**state["trainer"], "pool": state["pools"][rank]}}
        restore(trainer, data, state)
        logger.info("%s resumes from iteration %d", rid, trainer.iteration)

    step_kwargs = {}
    if mode == "posneg":
        def extra(out: torch.Tensor, more: tuple[torch.Tensor, ...]) -> torch.Tensor:
            neg, m_ind, has_neg = more  # normalised over all ranks' samples, so DDP gradients stay exact
            return negative_gt_loss(out, neg, m_ind, has_neg, sr.negative_weight, global_batch_count(out.shape[0], out.device),
                                    clamp=sr.clamp_negative)

        step_kwargs["extra_loss"] = extra
    on_log, _ = loss_logger(f"sr-{rid}", f"run {rid}", tcfg.iterations, root, STAGE, rid, folder, trainer.iteration) if rank == 0 else (None, None)
    write = checkpoint_writer(storage.join(root, catalog.run_checkpoints(rid)), key, tcfg.keep_checkpoints)

    def on_checkpoint(it: int, full: dict) -> None:
        if world > 1:  # every rank's batches and pool, so a resumed run continues each stream
            full = {**full, "data": gather(full["data"]), "pools": gather(full["trainer"]["pool"])}
        if rank == 0:
            write(it, full)

    try:
        logs = run_training(trainer, data, tcfg.iterations, on_log, on_checkpoint, step_kwargs)
    finally:
        if on_log is not None:
            on_log.close()
    if rank != 0:
        return None
    publish_speed(f"sr-{rid}-speed", f"run {rid}", trainer.speed, root)

    model = trainer.inference_model()
    payload = {"arch": arch, "options": getattr(sr, arch).model_dump(), "mode": mode, "scale": sr.scale,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "run_id": rid,
               "iterations": trainer.iteration}
    uri = catalog.run_model(rid)
    written = storage.atomic_write(storage.resolve(root, uri), to_bytes(payload))
    grid = _samples(trainer, batches(seed + world))
    ok, png = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    storage.atomic_write(storage.join(root, catalog.run_samples(rid)), png.tobytes())
    publish_markdown(f"sr-{rid}-samples",
                     f"# {rid}: training samples\n\n![samples](data:image/png;base64,{base64.b64encode(png.tobytes()).decode()})",
                     f"train-sr {rid}: bicubic, SR and GT of training crops", root)
    return {
        "run_id": rid, "arch": arch, "mode": mode, "iterations": trainer.iteration, "checkpoint_uri": uri,
        "sha256": written.sha256, "config_hash": cfg.section_hash("train_sr"), "data_fingerprint": data_fp,
        "sets": len(sets), "init_run": init_run, "parameters": parameter_count(generator), "perceptual": perceptual is not None,
        "negative_weight": sr.negative_weight if mode == "posneg" else None, "final_l1": logs.get("l1"),
        "final_perceptual": logs.get("perceptual"), "final_gan": logs.get("gan"), "final_negative": logs.get("extra"),
        "final_d_real": logs.get("d_real"), "final_d_fake": logs.get("d_fake"), "seconds": time.perf_counter() - started,
        "device": f"{dev} x{world}" if world > 1 else str(dev), "created_at": dt.datetime.now(dt.timezone.utc), **trainer.speed,
    }


def gather(obj):
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


@task(name="train-sr", tags=["gpu"], cache_policy=KEYED_CACHE, persist_result=True)
def train_sr(
    arch: str, mode: str, sets: list[dict], images: dict[str, dict[str, str]], data_fp: str, root: str, cfg: HGGTConfig,
    cache_key: str, device: str, resume: bool, init: tuple[str | None, str | None, str | None],
) -> dict:
    """One Real-ISR run: in this process, or with train_sr.train.nproc > 1 as a torchrun launch of
    that many DDP processes (one per GPU; gloo on the CPU)."""
    args = (arch, mode, sets, images, data_fp, root, cfg, device, resume, init)
    nproc = cfg.train_sr.train.nproc
    if nproc <= 1:
        return train_sr_run(*args)
    return launch_torchrun(nproc, args)


@task(name="record-run", persist_result=False)
def record_run(root: str, row: dict) -> None:
    table = manifests.merge("runs", [manifests.read_or_empty(root, "runs"), manifests.to_table("runs", [row])])
    manifests.write(root, "runs", table)
