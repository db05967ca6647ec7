"""Prefect tasks of Real-ISR training (stage train-sr): one task run per (arch, mode) run. The
training is hggt.core.training.recipe; the run spec (sets, key, id, init) is hggt.core.sr_runs."""

from __future__ import annotations

import base64
import datetime as dt

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from prefect import task

from hggt.core import catalog, manifests, networks, storage
from hggt.core.checkpoints import load_weights
from hggt.core.config import HGGTConfig, TrainSRConfig
from hggt.core.figures import sample_grid
from hggt.core.networks import GENERATOR, network
from hggt.core.realisr import SRBatches, generator_payload
from hggt.core.seeding import item_seed_sequence
from hggt.core.sr_runs import PSNR_START, SRRun, compatibility_key, run_id, sr_batches, training_sets
from hggt.core.training import distributed
from hggt.core.training.distributed import global_batch_count
from hggt.core.training.losses import negative_gt_loss
from hggt.core.training.recipe import GANRun, train_gan
from hggt.core.training.trainer import ExtraLoss, GANTrainer
from hggt.tasks.caching import KEYED_CACHE
from hggt.tasks.code_closure import code_version_of
from hggt.tasks.progress import run_logger
from hggt.tasks.torchrun import launch_torchrun
from hggt.tasks.training_io import publish_markdown, run_hooks

STAGE = "train-sr"
CODE = code_version_of(__name__, *networks.modules(GENERATOR))


@task(name="plan-train-sr", persist_result=False)
def plan_sr(root: str, mode: str) -> tuple[list[dict], dict[str, dict[str, str]], str, str]:
    return training_sets(root, mode)


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


def _negative_term(sr: TrainSRConfig) -> ExtraLoss:
    def extra(out: torch.Tensor, more: tuple[torch.Tensor, ...]) -> torch.Tensor:
        neg, m_ind, has_neg = more  # normalised over all ranks' samples, so DDP gradients stay exact
        return negative_gt_loss(out, neg, m_ind, has_neg, sr.negative_weight, global_batch_count(out.shape[0], out.device),
                                clamp=sr.clamp_negative)

    return extra


def _publish_samples(run: SRRun, rid: str, seed: int):
    """Writes runs/<id>/samples.png (and a dashboard copy) once the model is trained."""

    def publish(trainer: GANTrainer) -> None:
        grid = _samples(trainer, sr_batches(run.sets, run.images, run.mode, run.arch, run.cfg, trainer.device,
                                            seed + distributed.world_size()))
        ok, png = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        storage.atomic_write(storage.join(run.root, catalog.run_samples(rid)), png.tobytes())
        publish_markdown(f"sr-{rid}-samples",
                         f"# {rid}: training samples\n\n![samples](data:image/png;base64,{base64.b64encode(png.tobytes()).decode()})",
                         f"train-sr {rid}: bicubic, SR and GT of training crops", run.root)

    return publish


def train_sr_run(run: SRRun) -> dict | None:
    """Train one Real-ISR model; returns its runs.parquet row (on rank 0; None on the other ranks
    of a torchrun launch, which draw their own batches and checkpoint through rank 0)."""
    logger = run_logger()
    arch, mode, cfg, sr = run.arch, run.mode, run.cfg, run.cfg.train_sr
    tcfg = sr.train_for(arch, mode)  # psnr: L1 only
    seed = int(item_seed_sequence(cfg.seed, STAGE, f"{arch}/{mode}").generate_state(1)[0])
    init_path, init_sha, init_run = run.init
    key = compatibility_key(arch, mode, cfg, run.data_fp, init_sha, CODE)
    rid = run_id(arch, mode, key)
    options = network(arch, GENERATOR).options_in(sr)

    def start_from_init(generator: torch.nn.Module) -> None:
        init_bytes = storage.read_bytes(init_path)
        if storage.sha256_bytes(init_bytes) != init_sha:  # the run's key, and so its cache entry, holds that sha256
            raise ValueError(f"init file {init_path} changed since it was recorded or resolved (sha256 differs); "
                             "re-run the psnr run it came from, or start train-sr again")
        what = load_weights(generator, init_bytes, init_path, f"the {arch} generator of this run")
        logger.info("%s/%s starts from %s (%s)", arch, mode, init_run or init_path, what)

    if mode == "psnr" and not init_path:
        say = logger.warning if cfg.preset == "paper" else logger.info
        say("%s/psnr starts from random weights (runs.parquet: init_run empty); the authors start it from %s: "
            "set train_sr.psnr_init.%s to that file", arch, PSNR_START.get(arch, "bicubic-PSNR weights"), arch)

    spec = GANRun(
        name=rid, arch=arch, options=options, train=tcfg, seed=seed, device=run.device,
        batches=lambda seed_, dev: sr_batches(run.sets, run.images, mode, arch, cfg, dev, seed_), root=run.root,
        model_uri=catalog.run_model(rid), checkpoints=storage.join(run.root, catalog.run_checkpoints(rid)), key=key,
        config_hash=cfg.section_hash("train_sr"),
        payload=lambda model, iterations: generator_payload(arch, options, mode, sr.scale, model, rid, iterations),
        resume=run.resume, extra_loss=_negative_term(sr) if mode == "posneg" else None,
        prepare=start_from_init if init_path else None,
        without_perceptual=None if mode == "psnr" else
        f"{arch}/{mode} trains WITHOUT the perceptual term (perceptual_weight=0); recorded in runs.parquet",
    )
    hooks = run_hooks(f"sr-{rid}", f"run {rid}", tcfg.iterations, run.root, STAGE, rid, storage.join(run.root, catalog.run_dir(rid)),
                      f"run {rid}", logger, on_trained=_publish_samples(run, rid, seed))
    trained = train_gan(spec, hooks)
    if trained is None:
        return None
    return {
        "run_id": rid, "arch": arch, "mode": mode, **trained.row, "data_fingerprint": run.data_fp, "sets": len(run.sets),
        "init_run": init_run, "negative_weight": sr.negative_weight if mode == "posneg" else None,
        "final_negative": trained.logs.get("extra"), "created_at": dt.datetime.now(dt.timezone.utc), **trained.speed,
    }


@task(name="train-sr", tags=["gpu"], cache_policy=KEYED_CACHE, persist_result=True)
def train_sr(
    arch: str, mode: str, sets: list[dict], images: dict[str, dict[str, str]], data_fp: str, root: str, cfg: HGGTConfig,
    cache_key: str, device: str, resume: bool, init: tuple[str | None, str | None, str | None],
) -> dict:
    """One Real-ISR run: in this process, or with train_sr.train.nproc > 1 as a torchrun launch of
    that many DDP processes (one per GPU; gloo on the CPU)."""
    run = SRRun(arch, mode, sets, images, data_fp, root, cfg, device, resume, init)
    nproc = cfg.train_sr.train.nproc
    # A stop request raises TrainingStopped: a failed task run is never cached, so the next one resumes.
    return train_sr_run(run) if nproc <= 1 else launch_torchrun(nproc, train_sr_run, run)


@task(name="record-run", persist_result=False)
def record_run(root: str, row: dict) -> None:
    table = manifests.merge("runs", [manifests.read_or_empty(root, "runs"), manifests.to_table("runs", [row])])
    manifests.write(root, "runs", table)
