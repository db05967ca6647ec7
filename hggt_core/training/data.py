"""Random HR training crops with flips and 90-degree rotations, deterministic and resumable.

A small buffer of decoded HR images is kept and one of them is replaced every few iterations, so
thousands of photos can be sampled without decoding one per crop or holding them all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class HRCropSampler:
    def __init__(self, count: int, load: Callable[[int], np.ndarray], crop: int, buffer: int, refresh_every: int, seed: int):
        if count <= 0:
            raise ValueError("no HR images to train on")
        self.count, self.load, self.crop = count, load, crop
        self.buffer, self.refresh_every = min(buffer, count), refresh_every
        self.rng = np.random.default_rng(seed)
        self.buffer_ids: list[int] = []
        self.calls = 0
        self._images: dict[int, np.ndarray] = {}

    def _image(self, index: int) -> np.ndarray:
        if index not in self._images:
            img = self.load(index)
            h, w = img.shape[:2]
            if h < self.crop or w < self.crop:
                img = np.pad(img, ((0, max(0, self.crop - h)), (0, max(0, self.crop - w)), (0, 0)), mode="reflect")
            self._images[index] = img
        return self._images[index]

    def _refresh(self) -> None:
        if not self.buffer_ids:
            self.buffer_ids = [int(i) for i in self.rng.choice(self.count, size=self.buffer, replace=False)]
        elif self.calls % self.refresh_every == 0 and self.count > self.buffer:
            slot = (self.calls // self.refresh_every) % self.buffer
            candidates = np.setdiff1d(np.arange(self.count), self.buffer_ids)
            self.buffer_ids[slot] = int(self.rng.choice(candidates))
        for index in list(self._images):
            if index not in self.buffer_ids:
                del self._images[index]

    def sample(self, n: int) -> np.ndarray:
        """(n, crop, crop, 3) uint8 crops."""
        self._refresh()
        self.calls += 1
        out = np.empty((n, self.crop, self.crop, 3), np.uint8)
        for i in range(n):
            img = self._image(self.buffer_ids[int(self.rng.integers(len(self.buffer_ids)))])
            top = int(self.rng.integers(0, img.shape[0] - self.crop + 1))
            left = int(self.rng.integers(0, img.shape[1] - self.crop + 1))
            patch = img[top : top + self.crop, left : left + self.crop]
            hflip, vflip, transpose = self.rng.random(3) < 0.5
            if hflip:
                patch = patch[:, ::-1]
            if vflip:
                patch = patch[::-1]
            if transpose:
                patch = patch.transpose(1, 0, 2)
            out[i] = patch
        return out

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "buffer_ids": list(self.buffer_ids), "calls": self.calls}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.buffer_ids = list(state["buffer_ids"])
        self.calls = state["calls"]
        self._images.clear()
