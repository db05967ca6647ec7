"""Real-ISR training batches (paper Sec. 4-5, SPEC section 7) and the generators' size models.

The samples come from :class:`hggt_core.torchdata.HGGTTrainSet`, the one data path that other
trainers use too (what a sample is, by mode, is described there); here they are stacked on the
training device, the LQ inputs are synthesised from the original crops with Table 2 records and a
final x4 downscale, and in ``posneg`` the indication maps are computed for the whole batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from hggt_core.degradation import batched
from hggt_core.degradation.settings import DegradationSettings
from hggt_core.maps import indication_maps_torch
from hggt_core.sizes import RRDBSize, SwinIRSize  # noqa: F401 - re-exported
from hggt_core.torchdata import MODES, HGGTTrainSet, draw_versions, set_files

__all__ = ["MODES", "SRBatches", "draw_versions", "generator_payload", "set_files", "RRDBSize", "SwinIRSize"]


class SRBatches:
    """Batches for one mode: (lq, gt) or, in posneg, (lq, gt, neg, m_ind, has_neg)."""

    def __init__(
        self, sets: list[dict], load: Callable[[str, list[str]], list[np.ndarray]], mode: str, gt_size: int, scale: int,
        settings: DegradationSettings, device: torch.device, buffer: int, refresh_every: int, seed: int, ksize: int = 3,
        map_positive: str = "independent",
    ):
        if gt_size % scale:
            raise ValueError(f"GT crop {gt_size} is not divisible by the scale {scale}")
        self.dataset = HGGTTrainSet.from_sets(sets, load, mode, gt_size, settings=settings, map_positive=map_positive, ksize=ksize)
        self.stream = self.dataset.stream(seed, buffer, refresh_every)
        self.sets, self.files, self.sampler = sets, self.dataset.files, self.stream.sampler
        self.mode, self.scale, self.device, self.ksize = mode, scale, device, ksize

    def _tensor(self, arrays: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.stack(arrays))).to(self.device).permute(0, 3, 1, 2).float() / 255.0

    def next_batch(self, n: int) -> tuple[torch.Tensor, ...]:
        samples = self.stream.next(n)
        ori_t, gt_t = self._tensor([s["ori"] for s in samples]), self._tensor([s["gt"] for s in samples])
        size = ori_t.shape[-1] // self.scale
        started = time.perf_counter()
        with torch.no_grad():
            lq = batched.degrade(ori_t, [s["record"] for s in samples], target=(size, size))
        self.last_synthesis_seconds = time.perf_counter() - started
        if self.mode != "posneg":
            return lq, gt_t
        neg_t = self._tensor([s["neg"] if s["neg"] is not None else np.zeros_like(s["ori"]) for s in samples])
        flags = torch.tensor([s["neg"] is not None for s in samples], device=self.device)
        column = lambda key: torch.tensor([s[key] for s in samples], device=self.device)  # noqa: E731
        with torch.no_grad():
            _, _, m_ind = indication_maps_torch(
                ori_t, self._tensor([s["map_pos"] for s in samples]), neg_t, column("n_pos"), column("n_neg"), column("has_pos"),
                self.ksize,
            )
        self.last_synthesis_seconds = time.perf_counter() - started
        return lq, gt_t, neg_t, m_ind * flags.view(-1, 1, 1, 1), flags.float()

    def state_dict(self) -> dict:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state)


def generator_payload(arch: str, options: dict, mode: str, scale: int, model: torch.nn.Module, run_id: str, iterations: int) -> dict:
    """What a Real-ISR run's model file holds: enough to rebuild the generator without the config."""
    return {"arch": arch, "options": options, "mode": mode, "scale": scale,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "run_id": run_id, "iterations": iterations}
