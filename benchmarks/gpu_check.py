"""GPU check at paper size: one prepared script for a lent CUDA machine (`make gpu-check`).

Every Real-ISR generator of the registry (x4, the authors' Real-ISR configs: batch 12, GT 256, LQ 64): training
iterations per second of the L1 stage and of the GAN stage (VGG19 perceptual loss with random
weights, which cost what ImageNet ones cost, and the U-Net discriminator), in float32, with bf16
autocast + channels-last, and with that plus `torch.compile`; peak memory of each. Every enhancer
of the registry (the authors' enhancer configs: batch 4, GT 96): training steps, and tiled enhancement
(tile 480, overlap 24, a 2040x1356 image) in tiles per second. The torch degradation path (Table 2
records on 256x256 GT crops) and the torch indication maps in samples per second, and their share
of a GAN step. `--device cpu --tiny` runs the same code at tiny sizes as a smoke test (in the suite).
Targets on an H100-class card: RRDB L1 stage >= 8 it/s, GAN stage >= 4 it/s; degradation and maps
under 10% of the GAN step.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.models import vgg19

from hggt.core.archs import build_generator, parameter_count
from hggt.core.archs.discriminator import UNetDiscriminator
from hggt.core.config import HGGTConfig
from hggt.core.degradation import batched
from hggt.core.degradation.settings import sample_record
from hggt.core.maps import indication_maps_torch
from hggt.core.networks import ENHANCER, GENERATOR, names, network
from hggt.core.tiling import auto_batch, tiled_apply
from hggt.core.training.config import TrainConfig
from hggt.core.training.losses import PerceptualLoss
from hggt.core.training.trainer import GANTrainer

TARGETS = {("rrdb", "l1"): 8.0, ("rrdb", "gan"): 4.0}
VARIANTS = {"fp32": {"amp": False, "channels_last": False}, "bf16+cl": {"amp": True, "channels_last": True}}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None


def _rate(fn, device: torch.device, steps: int, warmup: int = 3) -> tuple[float, float]:
    """(calls per second, seconds of the warm-up calls: compilation shows there)."""
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    _sync(device)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return steps / (time.perf_counter() - start), warm


def _options(arch: str, tiny: bool) -> dict:
    return dict(network(arch).tiny) if tiny else {}


def train_speed(arch: str, stage: str, variant: str, compiled: bool, device: torch.device, tiny: bool, steps: int,
                vgg_path: str, batch: int, gt_size: int, scale: int) -> dict:
    gan = stage == "gan"
    cfg = TrainConfig(batch_size=batch, gt_size=gt_size, pool_size=0, ema_decay=None, **VARIANTS[variant],
                      perceptual_weight=1.0 if gan else 0.0, gan_weight=0.1 if gan else 0.0)
    perceptual = PerceptualLoss(cfg.perceptual_layers, vgg_path) if gan else None
    _reset(device)
    trainer = GANTrainer(build_generator(arch, **_options(arch, tiny)), UNetDiscriminator(16 if tiny else 64), cfg, perceptual, device, 0)
    if compiled:
        trainer.G = torch.compile(trainer.G)
    lq = torch.rand(batch, 3, gt_size // scale, gt_size // scale, device=device)
    gt = torch.rand(batch, 3, gt_size, gt_size, device=device)
    its, warm = _rate(lambda: trainer.step(lq, gt), device, steps)
    return {"check": "train", "arch": arch, "stage": stage, "variant": variant + ("+compile" if compiled else ""),
            "batch": batch, "gt_size": gt_size, "iterations_per_s": round(its, 3), "warmup_s": round(warm, 1),
            "peak_gib": _peak(device), "parameters": parameter_count(trainer.inference_model())}


def enhance_speed(arch: str, device: torch.device, tiny: bool) -> dict:
    model = build_generator(arch, **_options(arch, tiny)).to(device).eval()
    amp = torch.bfloat16 if device.type == "cuda" else None
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    _reset(device)
    image = torch.rand(1, 3, 1356, 2040) if not tiny else torch.rand(1, 3, 160, 240)
    tile = 480 if not tiny else 64
    kwargs = dict(tile=tile, overlap=24 if not tiny else 8, batch=auto_batch(device), amp_dtype=amp, channels_last=device.type == "cuda")
    ips, _ = _rate(lambda: tiled_apply(model, image, **kwargs), device, 2 if tiny or device.type == "cuda" else 1, warmup=1)
    tiles = math.ceil(image.shape[-2] / tile) * math.ceil(image.shape[-1] / tile)
    return {"check": "enhance", "arch": arch, "images_per_s": round(ips, 3), "tiles_per_s": round(ips * tiles, 2),
            "peak_gib": _peak(device)}


def synthesis_speed(device: torch.device, batch: int, gt_size: int, steps: int) -> dict:
    """On-the-fly Real-ISR inputs: Table 2 degradation of GT crops, and the maps of a batch of sets."""
    rng = np.random.default_rng(0)
    table_2 = HGGTConfig().degrade.table_2
    gt = torch.rand(batch, 3, gt_size, gt_size, device=device)
    _reset(device)
    records = [sample_record(table_2, rng) for _ in range(batch)]
    degrade_rate, _ = _rate(lambda: batched.degrade(gt, records), device, steps, warmup=1)
    pos, neg = (gt + 0.05 * torch.randn_like(gt)).clamp(0, 1), (gt + 0.1 * torch.randn_like(gt)).clamp(0, 1)
    counts = torch.full((batch,), 2, device=device)
    maps_rate, _ = _rate(lambda: indication_maps_torch(gt, pos, neg, counts, counts, torch.ones(batch, device=device)), device, steps, warmup=1)
    return {"check": "synthesis", "batch": batch, "gt_size": gt_size, "degrade_samples_per_s": round(degrade_rate * batch, 1),
            "maps_samples_per_s": round(maps_rate * batch, 1), "seconds_per_batch": round(1 / degrade_rate + 1 / maps_rate, 4),
            "peak_gib": _peak(device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny networks and crops: a smoke test")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant (minutes of compilation)")
    parser.add_argument("--only", nargs="*", default=["sr", "enhancers", "synthesis"], choices=["sr", "enhancers", "synthesis"])
    args = parser.parse_args()
    device = torch.device(args.device)
    batch, gt_size = (2, 64) if args.tiny else (12, 256)
    rows = []

    def emit(row: dict) -> None:
        rows.append(row)
        print(json.dumps({**row, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        vgg_path = str(Path(tmp) / "vgg19-random.pth")
        torch.save(vgg19(weights=None).state_dict(), vgg_path)
        if "sr" in args.only:
            for arch in names(GENERATOR):
                for stage in ("l1", "gan"):
                    for variant in VARIANTS:
                        emit(train_speed(arch, stage, variant, False, device, args.tiny, args.steps, vgg_path, batch, gt_size, 4))
                    if not args.no_compile:
                        emit(train_speed(arch, stage, "bf16+cl", True, device, args.tiny, args.steps, vgg_path, batch, gt_size, 4))
        if "enhancers" in args.only:
            for arch in names(ENHANCER):
                emit(train_speed(arch, "gan", "bf16+cl", False, device, args.tiny, args.steps, vgg_path, 4 if not args.tiny else 2,
                                 96 if not args.tiny else 32, 1))
                emit(enhance_speed(arch, device, args.tiny))
        if "synthesis" in args.only:
            emit(synthesis_speed(device, batch, gt_size, args.steps))
    if device.type == "cuda" and not args.tiny:
        _verdicts(rows)
    else:
        print("smoke test (tiny or not CUDA): no verdicts against the H100 targets")


def _verdicts(rows: list[dict]) -> None:
    train = [r for r in rows if r["check"] == "train"]
    for (arch, stage), target in TARGETS.items():
        best = max((r for r in train if r["arch"] == arch and r["stage"] == stage), key=lambda r: r["iterations_per_s"], default=None)
        if best:
            verdict = "met" if best["iterations_per_s"] >= target else "MISSED"
            print(f"{arch} {stage} stage: best {best['iterations_per_s']} it/s ({best['variant']}), target >= {target} on an H100: {verdict}")
    synthesis = next((r for r in rows if r["check"] == "synthesis"), None)
    gan = [r for r in train if r["arch"] == "rrdb" and r["stage"] == "gan"]
    if synthesis and gan:
        step = 1 / max(r["iterations_per_s"] for r in gan)
        share = synthesis["seconds_per_batch"] / (step + synthesis["seconds_per_batch"])
        print(f"degradation + maps: {100 * share:.1f}% of an RRDB GAN step (target < 10%): {'met' if share < 0.1 else 'MISSED'}")


if __name__ == "__main__":
    main()
