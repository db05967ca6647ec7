"""GPU check at paper size: one prepared script for a lent CUDA machine (`make gpu-check`).

For RCAN and ELAN enhancers at the sizes of SPEC section 3: training iterations per second (batch
4, GT 96, mixed precision, channels-last, U-Net discriminator, VGG19 perceptual loss with
random weights, which cost the same as ImageNet ones) and peak memory; then tiled inference
(tile 480, overlap 24) on a 2040x1356 image: images per second, candidate patches per second
and peak memory. `--device cpu --tiny` runs the same code small, as a smoke test.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torchvision.models import vgg19

from hggt_core.archs import build_generator, parameter_count
from hggt_core.archs.discriminator import UNetDiscriminator
from hggt_core.tiling import auto_batch, tiled_apply
from hggt_core.training.config import TrainConfig
from hggt_core.training.losses import PerceptualLoss
from hggt_core.training.trainer import GANTrainer

TINY = {"rcan": {"groups": 1, "blocks": 2, "channels": 16, "reduction": 4}, "elan": {"blocks": 2, "channels": 24}}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def check(arch: str, device: torch.device, tiny: bool, steps: int, vgg_path: str) -> dict:
    options = TINY[arch] if tiny else {}
    cfg = TrainConfig(batch_size=4, gt_size=96, pool_size=0)
    perceptual = PerceptualLoss(cfg.perceptual_layers, vgg_path)
    trainer = GANTrainer(build_generator(arch, **options), UNetDiscriminator(16 if tiny else 64), cfg, perceptual, device, 0)
    lq, gt = torch.rand(4, 3, 96, 96, device=device), torch.rand(4, 3, 96, 96, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(3):
        trainer.step(lq, gt)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(lq, gt)
    _sync(device)
    its = steps / (time.perf_counter() - start)
    train_peak = _peak(device)

    model = trainer.inference_model()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.cuda.reset_peak_memory_stats()
    image = torch.rand(1, 3, 1356, 2040)
    amp = trainer.amp_dtype
    kwargs = dict(tile=480, overlap=24, batch=auto_batch(device), amp_dtype=amp, channels_last=device.type == "cuda")
    tiled_apply(model, image, **kwargs)
    _sync(device)
    start = time.perf_counter()
    runs = 2 if tiny or device.type == "cuda" else 1
    for _ in range(runs):
        tiled_apply(model, image, **kwargs)
    _sync(device)
    ips = runs / (time.perf_counter() - start)
    patches = len(range(0, 1356 - 512 + 1, 288)) * len(range(0, 2040 - 512 + 1, 288))
    return {
        "arch": arch, "parameters": parameter_count(model), "device": str(device), "amp": str(amp),
        "train_iterations_per_s": its, "train_peak_gib": train_peak,
        "enhance_images_per_s": ips, "enhance_patches_per_s": ips * patches, "enhance_peak_gib": _peak(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        vgg_path = str(Path(tmp) / "vgg19-random.pth")
        torch.save(vgg19(weights=None).state_dict(), vgg_path)
        results = [check(arch, device, args.tiny, args.steps, vgg_path) for arch in ("rcan", "elan")]
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
