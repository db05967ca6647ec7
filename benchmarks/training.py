"""Training speed: iterations and samples per second of a tiny RRDBNet in posneg mode on the CPU
(paper size on CUDA when present), where step time goes, and the cost of the negative-GT term:
the same run in pos mode is the baseline, the two run in interleaved rounds (benchmarks/timing.py)
and compared by their median rates."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks import timing
from hggt.core.archs import build_generator
from hggt.core.archs.discriminator import UNetDiscriminator
from hggt.core.degradation.settings import TABLE_2
from hggt.core.realisr import SRBatches
from hggt.core.sample_photos import sample_photo_paths
from hggt.core.training.config import TrainConfig
from hggt.core.training.losses import negative_gt_loss
from hggt.core.training.loop import run_training
from hggt.core.training.trainer import GANTrainer


def _sets():
    import cv2

    photo = cv2.cvtColor(cv2.imread(str(sample_photo_paths()[0])), cv2.COLOR_BGR2RGB)

    def load(set_id, files):
        shift = {"original": 0, "01": 6, "02": -6, "03": 25, "04": -25}
        return [np.clip(photo.astype(int) + shift[f], 0, 255).astype(np.uint8) for f in files]

    sets = [{"set_id": f"s{i}", "positive": [("01", 3), ("02", 2)], "negative": [("03", 2), ("04", 3)]} for i in range(4)]
    return sets, load


def _run(mode: str, device: torch.device, paper: bool, iterations: int) -> dict:
    torch.manual_seed(0)
    sets, load = _sets()
    gt = 256 if paper else 64
    cfg = TrainConfig(batch_size=12 if paper else 4, gt_size=gt, pool_size=0, perceptual_weight=0.0, log_every=10**6,
                      checkpoint_every=10**6)
    options = {} if paper else {"blocks": 2, "channels": 16, "growth": 8}
    trainer = GANTrainer(build_generator("rrdb", **options), UNetDiscriminator(64 if paper else 16), cfg, None, device, 0)
    data = SRBatches(sets, load, mode, gt, 4, TABLE_2, device, 4, 10, 0)
    kwargs = {"extra_loss": lambda out, more: negative_gt_loss(out, *more)} if mode == "posneg" else {}
    run_training(trainer, data, 2, step_kwargs=kwargs)  # warm-up
    trainer.iteration = 0
    run_training(trainer, data, iterations, step_kwargs=kwargs)
    return trainer.speed


def run() -> dict:
    results = {}
    targets = [("cpu", torch.device("cpu"), False, 12, timing.ROUNDS)]
    if torch.cuda.is_available():
        targets.append(("cuda", torch.device("cuda"), True, 30, 3))
    for name, device, paper, iterations, rounds in targets:
        runs = {"posneg": [], "pos": []}
        for r in range(rounds):
            for mode in (("posneg", "pos") if r % 2 == 0 else ("pos", "posneg")):
                runs[mode].append(_run(mode, device, paper, iterations))
        rates = {mode: timing.spread([s["iterations_per_s"] for s in speeds]) for mode, speeds in runs.items()}
        shares = {k[6:]: float(np.median([s[k] for s in runs["posneg"]])) for k in runs["posneg"][0] if k.startswith("share_")}
        cost = rates["pos"]["median"] / rates["posneg"]["median"]
        size = "paper-size RRDBNet, batch 12, GT 256" if paper else "tiny RRDBNet, batch 4, GT 64"
        print(f"training ({name}, {size}), {rounds} interleaved rounds of {iterations} iterations:")
        print(timing.line("posneg", rates["posneg"], "it/s", 14))
        print("  share of step time (median): " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items()))
        print(timing.line("pos (baseline)", rates["pos"], "it/s", 14) + f"; posneg costs {cost:.2f}x its step time (ratio of medians)")
        results[name] = {"unit": "it/s", "posneg": rates["posneg"], "pos": rates["pos"], "posneg_step_cost": cost, "shares": shares,
                         "posneg_speed_last": runs["posneg"][-1]}
    results["target_met"] = True
    return results
