"""Random training crops, deterministic and resumable: the crop helpers and buffer sampling.

Buffer sampling (``TrainConfig.sampling="buffer"``): a small buffer of decoded images (or groups
of aligned images, such as the five versions of a set) is kept and one of them is replaced every
few iterations, so thousands of photos can be sampled without decoding one per crop or holding
them all. The authors' shuffled epochs are :mod:`hggt.core.training.sampling`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hggt.core.training import distributed


def pad_to(img: np.ndarray, crop: int) -> np.ndarray:
    """Reflect-pad an image smaller than the crop so that a crop fits."""
    h, w = img.shape[:2]
    if h < crop or w < crop:
        img = np.pad(img, ((0, max(0, crop - h)), (0, max(0, crop - w)), (0, 0)), mode="reflect")
    return img


def place_crop(shape: tuple[int, ...], crop: int, rng: np.random.Generator) -> tuple[int, int, np.ndarray]:
    """(top, left, three flip coins) of a random crop. The order of draws is fixed: train-sr's
    batches and HGGTTrainSet share it, so the same seed places the same crops."""
    top = int(rng.integers(0, shape[0] - crop + 1))
    left = int(rng.integers(0, shape[1] - crop + 1))
    return top, left, rng.random(3) < 0.5


def cut_group(group: list[np.ndarray], crop: int, top: int, left: int, flips: np.ndarray, dihedral: bool) -> list[np.ndarray]:
    """The same crop and flips of every (padded) image of an aligned group."""
    return [augment(img[top : top + crop, left : left + crop], flips, dihedral) for img in group]


def crop_group(group: list[np.ndarray], crop: int, rng: np.random.Generator, dihedral: bool) -> list[np.ndarray]:
    return cut_group(group, crop, *place_crop(group[0].shape, crop, rng), dihedral)


def augment(patch: np.ndarray, flips: np.ndarray, dihedral: bool) -> np.ndarray:
    """BasicSR's ``augment`` order (hflip, vflip, transpose), on views: nothing is copied."""
    hflip, vflip, transpose = flips
    if hflip:
        patch = patch[:, ::-1]
    if dihedral and vflip:
        patch = patch[::-1]
    if dihedral and transpose:
        patch = patch.transpose(1, 0, 2)
    return patch


class CropSampler:
    """Crops of image groups: ``load(i)`` returns a list of aligned H x W x 3 arrays, and every
    image of a group is cut at the same place with the same flips. ``dihedral`` adds vertical
    flips and transposes to the horizontal flip. Under torchrun each rank draws from ``seed + rank``."""

    def __init__(
        self, count: int, load: Callable[[int], list[np.ndarray]], crop: int, buffer: int, refresh_every: int, seed: int,
        dihedral: bool = True, shard: tuple[int, int] | None = None,
    ):
        if count <= 0:
            raise ValueError("no HR images to train on")
        self.count, self.load, self.crop, self.dihedral = count, load, crop, dihedral
        self.buffer, self.refresh_every = min(buffer, count), refresh_every
        self.rng = np.random.default_rng(seed + (shard or distributed.shard())[0])
        self.buffer_ids: list[int] = []
        self.calls = 0
        self._images: dict[int, list[np.ndarray]] = {}

    def _group(self, index: int) -> list[np.ndarray]:
        if index not in self._images:
            self._images[index] = [pad_to(img, self.crop) for img in self.load(index)]
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

    def sample_groups(self, n: int) -> list[tuple[int, list[np.ndarray]]]:
        """n (group index, crops) pairs."""
        return [(i, crop_group(self._group(i), self.crop, self.rng, self.dihedral)) for i in self._indices(n)]

    def sample(self, n: int) -> np.ndarray:
        """(n, crop, crop, 3) uint8 crops of the first image of each group."""
        return np.stack([crops[0] for _, crops in self.sample_groups(n)])

    def next_sets(self, n: int) -> list[tuple[int, list[np.ndarray]]]:
        """n (group index, whole flipped group) pairs from the buffer, uncropped."""
        out = []
        for index in self._indices(n):
            flips = self.rng.random(3) < 0.5
            out.append((index, [augment(img, flips, self.dihedral) for img in self._group(index)]))
        return out

    def _indices(self, n: int):
        # A generator: each index is drawn just before its crop, the order of draws every seed relies on.
        self._refresh()
        self.calls += 1
        for _ in range(n):
            yield self.buffer_ids[int(self.rng.integers(len(self.buffer_ids)))]

    def state_dict(self) -> dict:
        return {"sampling": "buffer", "rng": self.rng.bit_generator.state, "buffer_ids": list(self.buffer_ids), "calls": self.calls}

    def load_state_dict(self, state: dict) -> None:
        if "buffer_ids" not in state:
            raise ValueError("this checkpoint's data state is not of buffer sampling (train.sampling differs)")
        self.rng.bit_generator.state = state["rng"]
        self.buffer_ids = list(state["buffer_ids"])
        self.calls = state["calls"]
        self._images.clear()


class HRCropSampler(CropSampler):
    """Single HR images, with flips and 90-degree rotations (enhancer training, buffer sampling)."""

    def __init__(self, count: int, load: Callable[[int], np.ndarray], crop: int, buffer: int, refresh_every: int, seed: int):
        super().__init__(count, single_images(load), crop, buffer, refresh_every, seed, dihedral=True)


def single_images(load: Callable[[int], np.ndarray]) -> Callable[[int], list[np.ndarray]]:
    """``load(i)`` of one HR image as a group of one (what the samplers take)."""
    return lambda index: [load(index)]
