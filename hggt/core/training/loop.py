"""The training loop: batches in, logs and checkpoints out through callbacks (no I/O here)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import torch

from hggt.core.training.stopping import TrainingStopped
from hggt.core.training.trainer import GANTrainer


class BatchSource(Protocol):
    def next_batch(self, n: int) -> tuple[torch.Tensor, ...]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


def full_state(trainer: GANTrainer, data: BatchSource) -> dict:
    return {"trainer": trainer.state_dict(), "data": data.state_dict()}


def restore(trainer: GANTrainer, data: BatchSource, state: dict) -> None:
    trainer.load_state_dict(state["trainer"])
    data.load_state_dict(state["data"])


PHASES = ("data", "degrade", "pool", "forward", "backward", "optimizer")


class SpeedMeter:
    """Iterations and samples per second over a run, and where step time goes: waiting for data,
    degrading on the fly (with the indication maps in posneg), the pool, forward, backward and the
    optimizer step. Phases are timed on every ``sample_every``-th iteration (on CUDA that
    synchronises, so not on every one)."""

    def __init__(self, batch_size: int, sample_every: int):
        self.batch_size, self.sample_every = batch_size, sample_every
        self.iterations, self.seconds = 0, 0.0
        self.phases: dict[str, float] = {}

    def report(self) -> dict[str, float]:
        timed = sum(self.phases.values()) or 1.0
        out = {"iterations_per_s": self.iterations / self.seconds if self.seconds else 0.0}
        out["samples_per_s"] = out["iterations_per_s"] * self.batch_size
        out.update({f"share_{p}": self.phases.get(p, 0.0) / timed for p in PHASES})
        return out


def run_training(
    trainer: GANTrainer,
    data: BatchSource,
    iterations: int,
    on_log: Callable[[int, dict], None] | None = None,
    on_checkpoint: Callable[[int, dict], None] | None = None,
    step_kwargs: dict | None = None,
    should_stop: Callable[[], str | None] | None = None,
) -> dict:
    """Train until ``trainer.iteration == iterations``; returns the last logs. The run's speed
    report is left in ``trainer.speed``. ``should_stop`` is asked after every iteration: a reason
    checkpoints that iteration (through ``on_checkpoint``) and raises :class:`TrainingStopped`."""
    cfg = trainer.cfg
    meter = SpeedMeter(cfg.batch_size, 10 if trainer.device.type == "cuda" else 1)
    logs: dict = {}
    while trainer.iteration < iterations:
        timed = trainer.iteration % meter.sample_every == 0
        started = time.perf_counter()
        batch = data.next_batch(cfg.batch_size)
        fetched = time.perf_counter()
        timings: dict[str, float] | None = {} if timed else None
        logs = trainer.step(*batch, **(step_kwargs or {}), timings=timings)
        meter.iterations += 1
        meter.seconds += time.perf_counter() - started
        if timings is not None:
            degrade = getattr(data, "last_synthesis_seconds", 0.0)
            timings["data"] = fetched - started - degrade
            timings["degrade"] = degrade
            for phase, value in timings.items():
                meter.phases[phase] = meter.phases.get(phase, 0.0) + value
        it = trainer.iteration
        if on_log is not None and (it % cfg.log_every == 0 or it == iterations):
            on_log(it, logs)
        checkpointed = it % cfg.checkpoint_every == 0 or it == iterations
        if on_checkpoint is not None and checkpointed:
            on_checkpoint(it, full_state(trainer, data))
        reason = should_stop() if should_stop is not None and it < iterations else None
        if reason:
            if on_checkpoint is not None and not checkpointed:
                on_checkpoint(it, full_state(trainer, data))
            trainer.speed = meter.report()
            raise TrainingStopped(it, iterations, reason)
    trainer.speed = meter.report()
    return logs
