"""torch.distributed helpers (DDP under torchrun); everything degrades to one process."""

from __future__ import annotations

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def global_batch_count(local: int, device: torch.device | str = "cpu") -> torch.Tensor | float:
    """The divisor that makes a per-rank batch mean global under DDP: all ranks' sample count
    divided by the number of ranks. DDP averages gradients over ranks, so dividing each rank's sum
    by this gives exactly the gradient of one process on the concatenated batch, whatever each
    rank holds (a rank with no negative at all included)."""
    if not active():
        return float(local)
    total = torch.tensor([float(local)], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return (total / world_size()).squeeze()


def shard() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torchrun."""
    return (dist.get_rank(), dist.get_world_size()) if active() else (0, 1)
