"""A Real-ISR run as data, before any orchestration: the sets a mode trains on, the key that says
when an earlier run can be reused, its id, where it starts from, and its batches."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hggt.core import manifests, storage
from hggt.core.config import HGGTConfig, TrainSRConfig
from hggt.core.dataset import open_dataset
from hggt.core.fingerprint import fingerprint
from hggt.core.networks import GENERATOR, network
from hggt.core.realisr import SRBatches
from hggt.core.shard_engine.records import portable
from hggt.core.splits import TRAIN, split_fingerprint
from hggt.core.torchdata import url_loader
from hggt.core.training.store import NOT_IN_KEY

# What the authors' PSNR configs start from (train_{SwinIR,RRDB}_DF2K_OST_Blind_x4.yml, pretrain_network_g).
PSNR_START = {"swinir": "the classical-SR x4 SwinIR, 001_classicalSR_DF2K_s64w8_SwinIR-M_x4.pth",
              "rrdb": "RRDB_bicubic_PSNR.pth"}


def training_sets(root: str, mode: str) -> tuple[list[dict], dict[str, dict[str, str]], str, str]:
    """The train side's sets a mode trains on (psnr and ori: all of them, as the authors' Ori
    models; pos: those with a positive version; posneg: the usable ones) with their positive and
    negative versions, their images, a fingerprint of both, and the fingerprint of the split."""
    ds = open_dataset(root)
    sets, images = ds.training_sets(mode, TRAIN)  # the selection HGGTTrainSet makes too
    # the images as "<root>/..." (records.portable): a copied or moved dataset keeps its runs' ids
    data_fp = fingerprint([sets, portable(sorted((s, sorted(v.items())) for s, v in images.items()), ds.root)])
    return sets, images, data_fp, split_fingerprint(ds.rows("splits"))


def compatibility_key(arch: str, mode: str, cfg: HGGTConfig, data_fp: str, init_sha: str | None, code: str) -> str:
    """What a run's weights depend on (not its iterations: a run can be extended); ``code`` is the
    stage's code version."""
    sr = cfg.train_sr
    parts = [arch, mode, network(arch, GENERATOR).options_in(sr), sr.train_for(arch, mode).model_dump(mode="json", exclude=set(NOT_IN_KEY)),
             sr.scale, sr.negative_weight, sr.map_positive, sr.clamp_negative, sr.synthesis, cfg.degrade.table_2.model_dump(mode="json"), cfg.maps.ksize, cfg.seed, data_fp,
             init_sha, code]
    return fingerprint(parts)


def run_id(arch: str, mode: str, key: str) -> str:
    return f"{arch}-{mode}-{key[:8]}"


def resolve_init(root: str, arch: str, mode: str, init: str | None, sr: TrainSRConfig) -> tuple[str | None, str | None, str | None]:
    """(model file, its sha256, what runs.parquet records as init_run) a run starts from. GAN modes:
    ``init`` (else ``train_sr.init``): 'auto' (the latest psnr run of the arch, recorded by its id),
    'none' or a file (ours, BasicSR's or safetensors; recorded as `file:<path>`). psnr: ``init``
    if it names a file, else ``train_sr.psnr_init.<arch>`` (the authors' bicubic-PSNR weights);
    ``train_sr.init`` is the GAN modes' and never applies to psnr."""
    if mode == "psnr":
        init = init if init not in (None, "auto") else sr.psnr_init.get(arch, "none")
    else:
        init = init or sr.init
    if init == "none":
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
    tcfg = sr.train_for(arch, mode)
    return SRBatches(sets, url_loader(images), mode, tcfg.gt_size, sr.scale, cfg.degrade.table_2, dev, tcfg.image_buffer,
                     tcfg.refresh_every, seed, cfg.maps.ksize, sr.map_positive, tcfg.sampling, sr.synthesis)


@dataclass(frozen=True)
class SRRun:
    """One Real-ISR run as plain data: what a torchrun launch hands each of its processes, each
    with ``device`` replaced by its own GPU."""

    arch: str
    mode: str
    sets: list[dict]
    images: dict[str, dict[str, str]]
    data_fp: str
    root: str
    cfg: HGGTConfig
    device: str
    resume: bool
    init: tuple[str | None, str | None, str | None]  # resolve_init's (model file, sha256, init_run)
