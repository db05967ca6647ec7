"""Real-ISR training data with positive and negative GTs (paper Sec. 4-5, SPEC section 7).

Each sample is a labelled set: the same random GT crop (256) and horizontal flip for the original
and the versions used; the LQ input is the ORIGINAL crop degraded on the fly with Table 2
parameters and a final x4 downscale. By mode, the GT is the original (``psnr``, ``ori``), or a
random positive version, the original when there is none (``pos``, ``posneg``). In ``posneg`` a
random negative version N* (if any) and its indication map, computed on the device for the crops,
travel with the pair for the negative term of the loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from hggt_core.degradation import batched
from hggt_core.degradation.settings import DegradationSettings, sample_record
from hggt_core.maps import indication_maps_torch
from hggt_core.training.data import CropSampler

MODES = ("psnr", "ori", "pos", "posneg")


def set_files(entry: dict, mode: str) -> list[str]:
    """The images of a set a mode needs: the original first, then positives, then negatives."""
    files = ["original"]
    if mode in ("pos", "posneg"):
        files += [v for v, _ in entry["positive"]]
    if mode == "posneg":
        files += [v for v, _ in entry["negative"]]
    return files


class SRBatches:
    """Batches for one mode: (lq, gt) or, in posneg, (lq, gt, neg, m_ind, has_neg)."""

    def __init__(
        self, sets: list[dict], load: Callable[[str, list[str]], list[np.ndarray]], mode: str, gt_size: int, scale: int,
        settings: DegradationSettings, device: torch.device, buffer: int, refresh_every: int, seed: int, ksize: int = 3,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
        if gt_size % scale:
            raise ValueError(f"GT crop {gt_size} is not divisible by the scale {scale}")
        self.sets, self.mode, self.scale, self.settings, self.device, self.ksize = sets, mode, scale, settings, device, ksize
        self.files = [set_files(s, mode) for s in sets]
        self.sampler = CropSampler(
            len(sets), lambda i: load(sets[i]["set_id"], self.files[i]), gt_size, buffer, refresh_every, seed, dihedral=False
        )

    def _tensor(self, arrays: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.stack(arrays))).to(self.device).permute(0, 3, 1, 2).float() / 255.0

    def next_batch(self, n: int) -> tuple[torch.Tensor, ...]:
        rng = self.sampler.rng
        ori, gt, neg, n_pos, n_neg, has_pos, has_neg = [], [], [], [], [], [], []
        for index, crops in self.sampler.sample_groups(n):
            entry, files = self.sets[index], self.files[index]
            crop = dict(zip(files, crops))
            ori.append(crop["original"])
            positives = entry["positive"] if self.mode in ("pos", "posneg") else []
            if positives:
                version, votes = positives[int(rng.integers(len(positives)))]
                gt.append(crop[version])
                n_pos.append(votes)
            else:
                gt.append(crop["original"])
                n_pos.append(0)
            has_pos.append(bool(positives))
            negatives = entry["negative"] if self.mode == "posneg" else []
            if negatives:
                version, votes = negatives[int(rng.integers(len(negatives)))]
                neg.append(crop[version])
                n_neg.append(votes)
            else:
                neg.append(np.zeros_like(crop["original"]))
                n_neg.append(0)
            has_neg.append(bool(negatives))
        records = [sample_record(self.settings, rng) for _ in range(n)]
        ori_t, gt_t = self._tensor(ori), self._tensor(gt)
        size = ori_t.shape[-1] // self.scale
        started = time.perf_counter()
        with torch.no_grad():
            lq = batched.degrade(ori_t, records, target=(size, size))
        self.last_synthesis_seconds = time.perf_counter() - started
        if self.mode != "posneg":
            return lq, gt_t
        neg_t = self._tensor(neg)
        flags = torch.tensor(has_neg, device=self.device)
        with torch.no_grad():
            _, _, m_ind = indication_maps_torch(
                ori_t, gt_t, neg_t, torch.tensor(n_pos, device=self.device), torch.tensor(n_neg, device=self.device),
                torch.tensor(has_pos, device=self.device), self.ksize,
            )
        self.last_synthesis_seconds = time.perf_counter() - started
        return lq, gt_t, neg_t, m_ind * flags.view(-1, 1, 1, 1), flags.float()

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)



class _Sizes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RRDBSize(_Sizes):
    blocks: int = Field(23, gt=0)
    channels: int = Field(64, gt=0)
    growth: int = Field(32, gt=0)


class SwinIRSize(_Sizes):
    embed_dim: int = Field(180, gt=0)
    depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6)
    num_heads: tuple[int, ...] = (6, 6, 6, 6, 6, 6)
    window_size: int = Field(8, gt=0)
    mlp_ratio: float = Field(2.0, gt=0)
    num_feat: int = Field(64, gt=0)
