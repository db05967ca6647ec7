"""Real-ISR training batches (paper Sec. 4-5, SPEC section 7) and the generators' size models.

The samples come from :class:`hggt.core.torchdata.HGGTTrainSet`, the one data path that other
trainers use too (what a sample is, by mode, is described there); here they are stacked on the
training device, the LQ inputs are synthesised from the originals with a final x4 downscale, and
in ``posneg`` the indication maps are computed for the whole batch. Two syntheses
(``train_sr.synthesis``):

- ``batch`` (the authors' ``feed_data``, the ``paper`` preset): the whole patches are degraded
  with one batch draw (resize and noise kind per batch, kernels, strengths and float JPEG
  qualities per sample, :mod:`hggt.core.degradation.batch_synthesis`), then one crop position
  is taken for every image of the batch;
- ``sample`` (hggt's own): each sample is cropped first and degraded with its own Table 2 record
  (every draw per sample, OpenCV/nvJPEG with integer qualities): more diverse batches, and the
  records of :class:`HGGTTrainSet`'s items, so other trainers reproduce it with ``make_lq``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from hggt.core.degradation import batch_synthesis, batched
from hggt.core.degradation.settings import DegradationSettings
from hggt.core.maps import indication_maps_torch
from hggt.core.sizes import RRDBSize, SwinIRSize  # noqa: F401 - re-exported
from hggt.core.torchdata import MODES, HGGTTrainSet, draw_versions, set_files
from hggt.core.training.sampling import Sampling

Synthesis = Literal["batch", "sample"]

__all__ = ["MODES", "SRBatches", "draw_versions", "generator_payload", "set_files", "RRDBSize", "SwinIRSize"]


class SRBatches:
    """Batches for one mode: (lq, gt) or, in posneg, (lq, gt, neg, m_ind, has_neg)."""

    def __init__(
        self, sets: list[dict], load: Callable[[str, list[str]], list[np.ndarray]], mode: str, gt_size: int, scale: int,
        settings: DegradationSettings, device: torch.device, buffer: int, refresh_every: int, seed: int, ksize: int = 3,
        map_positive: str = "independent", sampling: Sampling = "epochs", synthesis: Synthesis = "sample",
    ):
        if gt_size % scale:
            raise ValueError(f"GT crop {gt_size} is not divisible by the scale {scale}")
        if synthesis not in ("batch", "sample"):
            raise ValueError(f"unknown synthesis {synthesis!r}; choose batch or sample")
        self.dataset = HGGTTrainSet.from_sets(sets, load, mode, gt_size, settings=settings, map_positive=map_positive, ksize=ksize)
        self.stream = self.dataset.stream(seed, buffer, refresh_every, sampling)
        self.sets, self.files, self.sampler = sets, self.dataset.files, self.stream.sampler
        self.mode, self.scale, self.device, self.ksize, self.synthesis = mode, scale, device, ksize, synthesis
        self.gt_size, self.settings = gt_size, settings

    def _tensor(self, arrays: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.stack(arrays))).to(self.device).permute(0, 3, 1, 2).float() / 255.0

    def _images(self, samples: list[dict]) -> dict[str, torch.Tensor]:
        images = {"ori": self._tensor([s["ori"] for s in samples]), "gt": self._tensor([s["gt"] for s in samples])}
        if self.mode == "posneg":
            images["map_pos"] = self._tensor([s["map_pos"] for s in samples])
            images["neg"] = self._tensor([s["neg"] if s["neg"] is not None else np.zeros_like(s["ori"]) for s in samples])
        return images

    def _lq_per_sample(self, n: int) -> tuple[list[dict], dict[str, torch.Tensor], torch.Tensor]:
        samples = self.stream.next(n)
        images = self._images(samples)
        size = images["ori"].shape[-1] // self.scale
        lq = batched.degrade(images["ori"], [s["record"] for s in samples], target=(size, size))
        return samples, images, lq

    def _lq_per_batch(self, n: int) -> tuple[list[dict], dict[str, torch.Tensor], torch.Tensor]:
        samples = self.stream.next_whole(n)
        shapes = {s["ori"].shape for s in samples}
        if len(shapes) > 1:
            raise ValueError(f"sets of a batch differ in size ({sorted(shapes)}): the authors' batch synthesis degrades whole "
                             "patches of one size; train with --set train_sr.synthesis=sample")
        images = self._images(samples)
        rng = self.sampler.rng
        self.last_draw = batch_synthesis.draw_batch(self.settings, n, rng)
        lq = batch_synthesis.synthesize(images["ori"], self.last_draw, self.scale)
        names = list(images)
        cropped, lq, self.last_crop = batch_synthesis.paired_crop([images[k] for k in names], lq, self.gt_size, self.scale, rng)
        return samples, dict(zip(names, cropped)), lq

    def next_batch(self, n: int) -> tuple[torch.Tensor, ...]:
        started = time.perf_counter()
        with torch.no_grad():
            samples, images, lq = self._lq_per_batch(n) if self.synthesis == "batch" else self._lq_per_sample(n)
        self.last_synthesis_seconds = time.perf_counter() - started
        if self.mode != "posneg":
            return lq, images["gt"]
        flags = torch.tensor([s["neg"] is not None for s in samples], device=self.device)
        column = lambda key: torch.tensor([s[key] for s in samples], device=self.device)  # noqa: E731
        with torch.no_grad():
            _, _, m_ind = indication_maps_torch(
                images["ori"], images["map_pos"], images["neg"], column("n_pos"), column("n_neg"), column("has_pos"), self.ksize,
            )
        self.last_synthesis_seconds = time.perf_counter() - started
        return lq, images["gt"], images["neg"], m_ind * flags.view(-1, 1, 1, 1), flags.float()

    def state_dict(self) -> dict:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state)


def generator_payload(arch: str, options: dict, mode: str, scale: int, model: torch.nn.Module, run_id: str, iterations: int) -> dict:
    """What a Real-ISR run's model file holds: enough to rebuild the generator without the config."""
    return {"arch": arch, "options": options, "mode": mode, "scale": scale,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "run_id": run_id, "iterations": iterations}
