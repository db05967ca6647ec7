"""One GAN training loop for the enhancers and the Real-ISR models (SPEC sections 3 and 7).

Per iteration: the generator step (L1 + perceptual + GAN against a frozen discriminator, plus any
extra term the caller supplies, e.g. the negative-GT loss), then the discriminator step (real = GT,
fake = the detached output), then the EMA update. The complete state (networks, optimizers,
schedulers, EMA, pool, RNG states, iteration) round-trips through state_dict.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from hggt.core.training import distributed
from hggt.core.training.config import TrainConfig
from hggt.core.training.ema import EMA
from hggt.core.training.losses import gan_loss
from hggt.core.training.pool import PairPool

ExtraLoss = Callable[[torch.Tensor, tuple[torch.Tensor, ...]], torch.Tensor]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class GANTrainer:
    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        cfg: TrainConfig,
        perceptual: nn.Module | None,
        device: torch.device,
        seed: int,
    ):
        self.cfg, self.device = cfg, device
        cuda = device.type == "cuda"
        self.memory_format = torch.channels_last if cuda and cfg.channels_last else torch.contiguous_format
        self.G = generator.to(device, memory_format=self.memory_format)
        self.D = discriminator.to(device, memory_format=self.memory_format)
        if distributed.active():
            # Under torchrun: gradients are averaged over the ranks, so every replica takes the same
            # step; each rank draws its own batches (seed it per rank).
            ids = [device.index] if device.type == "cuda" and device.index is not None else None
            self.G = nn.parallel.DistributedDataParallel(self.G, device_ids=ids)
            self.D = nn.parallel.DistributedDataParallel(self.D, device_ids=ids)
        self.perceptual = perceptual.to(device) if perceptual is not None else None
        self.amp_dtype = None
        if cuda and cfg.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, list(cfg.milestones), cfg.lr_gamma)
        self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, list(cfg.milestones), cfg.lr_gamma)
        self.ema = EMA(_bare(self.G), cfg.ema_decay, cfg.ema_warmup) if cfg.ema_decay else None
        self.pool = PairPool(cfg.pool_size, seed)
        self.iteration = 0

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def step(
        self, lq: torch.Tensor, gt: torch.Tensor, *extra: torch.Tensor, extra_loss: ExtraLoss | None = None,
        timings: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """One iteration on a batch; ``extra`` tensors travel through the pool with the pair and are
        handed to ``extra_loss(output, extra)``, whose value is added to the generator loss. With
        ``timings``, the seconds spent in the pool, forward, backward and optimizer phases are added
        to it (on CUDA each phase boundary synchronises, so time only some iterations)."""
        clock = _Clock(timings, self.device.type == "cuda")
        lq, gt, *extra = self.pool(lq, gt, *extra)
        lq = lq.to(self.device, memory_format=self.memory_format)
        gt = gt.to(self.device, memory_format=self.memory_format)
        extra = tuple(e.to(self.device) for e in extra)
        cfg, terms = self.cfg, {}
        clock.mark("pool")

        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            out = self.G(lq)
            total = terms["l1"] = cfg.l1_weight * F.l1_loss(out.float(), gt.float())
            if self.perceptual is not None and cfg.perceptual_weight > 0:
                terms["perceptual"] = cfg.perceptual_weight * self.perceptual(out, gt)
                total = total + terms["perceptual"]
            if cfg.gan_weight > 0:
                terms["gan"] = cfg.gan_weight * gan_loss(self.D(out), real=True)
                total = total + terms["gan"]
            if extra_loss is not None:
                terms["extra"] = extra_loss(out, extra)
                total = total + terms["extra"]
        clock.mark("forward")
        self.scaler.scale(total).backward()
        clock.mark("backward")
        self.scaler.step(self.opt_g)
        clock.mark("optimizer")

        if cfg.gan_weight > 0:
            self.D.requires_grad_(True)
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                terms["d_real"] = gan_loss(self.D(gt), real=True)
            clock.mark("forward")
            self.scaler.scale(terms["d_real"]).backward()
            clock.mark("backward")
            with self._autocast():
                terms["d_fake"] = gan_loss(self.D(out.detach()), real=False)
            clock.mark("forward")
            self.scaler.scale(terms["d_fake"]).backward()
            clock.mark("backward")
            self.scaler.step(self.opt_d)
        self.scaler.update()
        self.sched_g.step()
        if cfg.gan_weight > 0:
            self.sched_d.step()
        if self.ema is not None:
            self.ema.update(_bare(self.G), self.iteration)
        clock.mark("optimizer")
        self.iteration += 1
        # One host transfer for all the numbers, after the step, rather than a sync per loss.
        values = torch.stack([t.detach().float().reshape(()) for t in (*terms.values(), total)]).tolist()
        logs = dict(zip([*terms, "total"], values))
        logs["lr"] = self.opt_g.param_groups[0]["lr"]
        return logs

    def inference_model(self) -> nn.Module:
        """The weights to publish, in eval mode: the EMA, or without EMA (the enhancers' paper
        setting) a copy of the generator, so that batch norm uses its running statistics and
        running a sample through it leaves the training state untouched."""
        if self.ema is not None:
            return self.ema.model
        return copy.deepcopy(_bare(self.G)).eval().requires_grad_(False)

    def state_dict(self) -> dict:
        state = {
            "iteration": self.iteration,
            "generator": _bare(self.G).state_dict(),
            "discriminator": _bare(self.D).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.model.state_dict() if self.ema is not None else None,
            "pool": self.pool.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }
        return state

    def load_state_dict(self, state: dict) -> None:
        self.iteration = state["iteration"]
        _bare(self.G).load_state_dict(state["generator"])
        _bare(self.D).load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            # A checkpoint written without EMA starts the average at the resumed weights, not at
            # this trainer's random initialisation.
            self.ema.model.load_state_dict(state["ema"] if state["ema"] is not None else state["generator"])
        self.pool.load_state_dict(state["pool"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed torch's global generators; with ``deterministic``, refuse non-deterministic kernels."""
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False


class _Clock:
    def __init__(self, timings: dict[str, float] | None, sync: bool):
        self.timings, self.sync = timings, sync
        self.last = time.perf_counter() if timings is not None else 0.0

    def mark(self, phase: str) -> None:
        if self.timings is None:
            return
        if self.sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.timings[phase] = self.timings.get(phase, 0.0) + now - self.last
        self.last = now


def _bare(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
