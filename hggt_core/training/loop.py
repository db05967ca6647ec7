"""The training loop: batches in, logs and checkpoints out through callbacks (no I/O here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from hggt_core.training.trainer import GANTrainer


class BatchSource(Protocol):
    def next_batch(self, n: int) -> tuple[torch.Tensor, ...]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


def full_state(trainer: GANTrainer, data: BatchSource) -> dict:
    return {"trainer": trainer.state_dict(), "data": data.state_dict()}


def restore(trainer: GANTrainer, data: BatchSource, state: dict) -> None:
    trainer.load_state_dict(state["trainer"])
    data.load_state_dict(state["data"])


def run_training(
    trainer: GANTrainer,
    data: BatchSource,
    iterations: int,
    on_log: Callable[[int, dict], None] | None = None,
    on_checkpoint: Callable[[int, dict], None] | None = None,
    step_kwargs: dict | None = None,
) -> dict:
    """Train until ``trainer.iteration == iterations``; returns the last logs."""
    cfg = trainer.cfg
    logs: dict = {}
    while trainer.iteration < iterations:
        batch = data.next_batch(cfg.batch_size)
        logs = trainer.step(*batch, **(step_kwargs or {}))
        it = trainer.iteration
        if on_log is not None and (it % cfg.log_every == 0 or it == iterations):
            on_log(it, logs)
        if on_checkpoint is not None and (it % cfg.checkpoint_every == 0 or it == iterations):
            on_checkpoint(it, full_state(trainer, data))
    return logs
