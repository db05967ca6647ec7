"""Real-ISR training data with positive and negative GTs (paper Sec. 4-5, SPEC section 7).

Each sample is a labelled set: the same random GT crop (256) and horizontal flip for the original
and the versions used; the LQ input is the ORIGINAL crop degraded on the fly with Table 2
parameters and a final x4 downscale. By mode, the GT is the original (``psnr``, ``ori``), or a
random positive version, the original when there is none (``pos``, ``posneg``). In ``posneg`` a
random negative version N* (if any) and its indication map, computed on the device for the crops,
travel with the pair for the negative term of the loss. The positive the map compares N* with is
drawn separately from the GT P* (``map_positive="independent"``, as the authors' model does), or
is P* itself (``"target"``).
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


def draw_versions(
    entry: dict, mode: str, map_positive: str, rng: np.random.Generator,
) -> tuple[tuple[str, int], tuple[str, int], tuple[str, int] | None]:
    """(GT P*, the positive behind the indication map, N* or None), each as (version, votes), for
    one sample; the original (0 votes) stands in where a set has no positive."""
    positives = entry["positive"] if mode in ("pos", "posneg") else []
    negatives = entry["negative"] if mode == "posneg" else []
    draw = lambda versions: versions[int(rng.integers(len(versions)))] if versions else ("original", 0)  # noqa: E731
    target = draw(positives)
    if not negatives:
        return target, target, None
    pick = draw(positives) if map_positive == "independent" else target
    return target, pick, draw(negatives)


class SRBatches:
    """Batches for one mode: (lq, gt) or, in posneg, (lq, gt, neg, m_ind, has_neg)."""

    def __init__(
        self, sets: list[dict], load: Callable[[str, list[str]], list[np.ndarray]], mode: str, gt_size: int, scale: int,
        settings: DegradationSettings, device: torch.device, buffer: int, refresh_every: int, seed: int, ksize: int = 3,
        map_positive: str = "independent",
    ):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
        if map_positive not in ("independent", "target"):
            raise ValueError(f"map_positive must be 'independent' or 'target', not {map_positive!r}")
        self.map_positive = map_positive
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
        ori, gt, map_pos, neg, n_pos, n_neg, has_pos, has_neg = [], [], [], [], [], [], [], []
        for index, crops in self.sampler.sample_groups(n):
            crop = dict(zip(self.files[index], crops))
            target, pick, negative = draw_versions(self.sets[index], self.mode, self.map_positive, rng)
            ori.append(crop["original"])
            gt.append(crop[target[0]])
            map_pos.append(crop[pick[0]])
            neg.append(crop[negative[0]] if negative else np.zeros_like(crop["original"]))
            n_pos.append(pick[1])
            n_neg.append(negative[1] if negative else 0)
            has_pos.append(pick[0] != "original")
            has_neg.append(negative is not None)
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
                ori_t, self._tensor(map_pos), neg_t, torch.tensor(n_pos, device=self.device), torch.tensor(n_neg, device=self.device),
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
    upsampler: str = Field(
        "pixelshuffle", pattern="^(pixelshuffle|nearest)$",
        description="pixelshuffle: the authors' RRDBPSNet (train_RRDBGAN_PosNegGT_Blind_*_x4.yml); nearest: ESRGAN's nearest+conv.",
    )


class SwinIRSize(_Sizes):
    embed_dim: int = Field(180, gt=0)
    depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6)
    num_heads: tuple[int, ...] = (6, 6, 6, 6, 6, 6)
    window_size: int = Field(8, gt=0)
    mlp_ratio: float = Field(2.0, gt=0)
    num_feat: int = Field(64, gt=0)
    upsampler: str = Field(
        "pixelshuffle", pattern=r"^(pixelshuffle|nearest\+conv)$",
        description="pixelshuffle: the authors' (train_SwinIRGAN_PosNegGT_Blind_*_x4.yml); nearest+conv: SwinIR's real-SR models.",
    )
