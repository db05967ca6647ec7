"""The one GAN training recipe of hggt: enhancers (train-enhancers) and Real-ISR generators
(train-sr) are two run specs of it.

Seeding, the perceptual loss, the trainer, resuming from the latest compatible checkpoint, the
loss log and the checkpoints (every rank's batches and pool under torchrun), the model file and
the manifest columns both stages share. What differs between the stages comes in through the
:class:`GANRun` spec: the network, the batches, the extra loss, what the model file holds. How a
run is observed (Prefect artifacts, a progress card) comes in through :class:`RunHooks`, so that
nothing here imports Prefect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.distributed as dist

from hggt.core import storage
from hggt.core.archs import build_generator, parameter_count
from hggt.core.archs.discriminator import UNetDiscriminator
from hggt.core.archs.vgg import resolve_vgg19_weights
from hggt.core.training import distributed, stopping
from hggt.core.training.config import TrainConfig
from hggt.core.training.loop import BatchSource, restore, run_training
from hggt.core.training.losses import PerceptualLoss
from hggt.core.training.stopping import TrainingStopped
from hggt.core.training.store import checkpoint_writer, latest_checkpoint, to_bytes
from hggt.core.training.trainer import ExtraLoss, GANTrainer, resolve_device, seed_everything

LOSS_COLUMNS = ("final_l1", "final_perceptual", "final_gan", "final_d_real", "final_d_fake")
# The columns every trained-model manifest (enhancers, runs) has, filled by train_gan.
TRAINED_COLUMNS = ("iterations", "checkpoint_uri", "sha256", "config_hash", "parameters", "perceptual", *LOSS_COLUMNS,
                   "seconds", "device")


@dataclass(frozen=True)
class GANRun:
    """One training run: what to train, on what, and where its files go."""

    name: str  # how logs name it ("enhancer 01", a run id)
    arch: str  # a registry network (hggt.core.networks)
    options: Mapping[str, Any]  # its size-model options
    train: TrainConfig
    seed: int
    device: str  # auto, cpu, cuda, cuda:N
    # (seed, device) -> the run's batch stream; under torchrun its sampler shards each epoch and offsets
    # its own draws by the rank (hggt.core.training.sampling), so every rank gets the run's seed.
    batches: Callable[[int, torch.device], BatchSource]
    root: str  # the dataset root that model_uri is relative to
    model_uri: str
    checkpoints: str  # URL of the folder of iter_<n>.pt
    key: str  # compatibility key: a checkpoint written under another key is never resumed
    config_hash: str
    payload: Callable[[torch.nn.Module, int], dict]  # (inference model, iterations) -> the model file's contents
    resume: bool = True
    extra_loss: ExtraLoss | None = None
    prepare: Callable[[torch.nn.Module], None] | None = None  # e.g. load initial weights, before the trainer exists
    without_perceptual: str | None = None  # the warning when perceptual_weight is 0 (None: expected, say nothing)


class LossLog(Protocol):
    """The loop's report callback; closed once training ends."""

    def __call__(self, iteration: int, logs: dict) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class RunHooks:
    """How a run is observed: its logger, its loss log (opened at the iteration it starts from;
    returns the log and the loss curve so far) and where its speed report goes."""

    logger: logging.Logger | logging.LoggerAdapter
    open_log: Callable[[int], tuple[LossLog, list[dict]]]
    on_speed: Callable[[dict[str, float]], None]
    on_trained: Callable[[GANTrainer], None] | None = None  # after the model file, before the row (rank 0)


@dataclass
class Trained:
    row: dict  # TRAINED_COLUMNS
    logs: dict  # the last losses, the stage's extra term as "extra"
    speed: dict[str, float]
    resumed: bool


def _gather(obj) -> list:
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _stop_check(world: int, dev: torch.device) -> Callable[[], str | None]:
    """This process's stop requests; under torchrun every rank stops at the same iteration when any
    rank was asked to (one all-reduce of a flag per iteration)."""
    if world == 1:
        return stopping.requested
    reasons = ("SIGTERM", "SIGINT", "cancelled")

    def agreed() -> str | None:
        own = stopping.requested()
        flag = torch.tensor([reasons.index(own) + 1 if own in reasons else (len(reasons) + 1 if own else 0)], device=dev)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        code = int(flag.item())
        return None if code == 0 else (reasons[code - 1] if code <= len(reasons) else "stop requested")

    return agreed


def train_gan(run: GANRun, hooks: RunHooks) -> Trained | None:
    """Train ``run`` to ``run.train.iterations`` (continuing its latest compatible checkpoint when
    ``run.resume``) and write its model file; None on ranks other than 0 of a torchrun launch,
    which draw their own batches and checkpoint through rank 0."""
    started = time.perf_counter()
    logger, tcfg = hooks.logger, run.train
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed.active() else (0, 1)
    dev = resolve_device(run.device)
    # The order of what draws from torch's global RNG (VGG, generator, discriminator) is part of
    # what makes a seeded run reproducible: do not reorder.
    seed_everything(run.seed, tcfg.deterministic)
    perceptual = None
    if tcfg.perceptual_weight > 0:
        perceptual = PerceptualLoss(tcfg.perceptual_layers, str(resolve_vgg19_weights(tcfg.perceptual_weights)))
    elif run.without_perceptual and rank == 0:
        logger.warning(run.without_perceptual)
    generator = build_generator(run.arch, **run.options)
    if run.prepare is not None:
        run.prepare(generator)
    data = run.batches(run.seed, dev)
    trainer = GANTrainer(generator, UNetDiscriminator(tcfg.discriminator_channels), tcfg, perceptual, dev, run.seed + rank)
    key = run.key + (f"-ddp{world}" if world > 1 else "")
    state = latest_checkpoint(run.checkpoints, key) if run.resume else None
    if state is not None:
        if world > 1:
            state = {**state, "data": state["data"][rank], "trainer": {**state["trainer"], "pool": state["pools"][rank]}}
        restore(trainer, data, state)
        logger.info("%s resumes from iteration %d", run.name, trainer.iteration)

    on_log, history = hooks.open_log(trainer.iteration) if rank == 0 else (None, [])
    write = checkpoint_writer(run.checkpoints, key, tcfg.keep_checkpoints)

    def on_checkpoint(it: int, full: dict) -> None:
        if world > 1:  # every rank's batches and pool, so a resumed run continues each stream
            full = {**full, "data": _gather(full["data"]), "pools": _gather(full["trainer"]["pool"])}
        if rank == 0:
            write(it, full)

    try:
        logs = run_training(trainer, data, tcfg.iterations, on_log, on_checkpoint,
                            {"extra_loss": run.extra_loss} if run.extra_loss else None, _stop_check(world, dev))
    except TrainingStopped as stopped:  # named after the run; the flow reports it
        raise TrainingStopped(stopped.iteration, stopped.total, stopped.reason, run.name) from None
    finally:
        if on_log is not None:
            on_log.close()
    if rank != 0:
        return None
    # A run resumed at its last checkpoint trains nothing: its final losses are the curve's last row.
    logs = logs or {k: v for k, v in (history[-1] if history else {}).items() if k != "iteration"}
    hooks.on_speed(trainer.speed)
    written = storage.atomic_write(storage.resolve(run.root, run.model_uri),
                                   to_bytes(run.payload(trainer.inference_model(), trainer.iteration)))
    if hooks.on_trained is not None:
        hooks.on_trained(trainer)
    row = {
        "iterations": trainer.iteration, "checkpoint_uri": run.model_uri, "sha256": written.sha256, "config_hash": run.config_hash,
        "parameters": parameter_count(generator), "perceptual": perceptual is not None,
        **{column: logs.get(column.removeprefix("final_")) for column in LOSS_COLUMNS},
        "seconds": time.perf_counter() - started, "device": f"{dev} x{world}" if world > 1 else str(dev),
    }
    return Trained(row, logs, trainer.speed, state is not None)
