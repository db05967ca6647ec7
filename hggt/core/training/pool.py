"""The training-pair pool (queue): each batch is swapped into a shuffled pool of earlier pairs, so
that the resize, noise and blur choices of one batch spread over many (Real-ESRGAN's trick)."""

from __future__ import annotations

import torch


class PairPool:
    def __init__(self, size: int, seed: int):
        self.size = size
        self.filled = 0
        self.tensors: list[torch.Tensor] | None = None
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, *batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.size == 0:
            return batch
        b = batch[0].shape[0]
        if self.size % b:
            raise ValueError(f"pool size {self.size} must be a multiple of the batch size {b}")
        if self.tensors is None:
            self.tensors = [torch.empty((self.size, *t.shape[1:]), dtype=t.dtype, device=t.device) for t in batch]
        if self.filled < self.size:
            for pool, t in zip(self.tensors, batch):
                pool[self.filled : self.filled + b] = t
            self.filled += b
            return batch
        order = torch.randperm(self.size, generator=self.generator).to(self.tensors[0].device)
        out = []
        for i, (pool, t) in enumerate(zip(self.tensors, batch)):
            pool = pool[order]
            out.append(pool[:b].clone())
            pool[:b] = t
            self.tensors[i] = pool
        return tuple(out)

    def state_dict(self) -> dict:
        return {"filled": self.filled, "tensors": self.tensors, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.filled = state["filled"]
        self.tensors = state["tensors"]
        self.generator.set_state(state["generator"])
