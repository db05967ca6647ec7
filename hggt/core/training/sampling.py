"""Training sets in shuffled epochs, as the authors' BasicSR loader draws them, and the choice
between that and the buffer of :class:`hggt.core.training.data.CropSampler`.

Their ``train.py`` wraps every training set in ``EnlargedSampler`` (a permutation per epoch, each
rank of a DDP run taking every world-th entry of it) and a ``DataLoader(drop_last=True)``: every
set once per epoch, a batch of distinct sets, the incomplete last batch of an epoch dropped. The
dataset flips each set as a whole (``augment``: horizontal flips for Real-ISR, plus vertical flips
and transposes for the enhancers); the crop is taken later, in the model's ``feed_data``. So
:meth:`EpochSampler.next_sets` gives whole augmented sets and :meth:`EpochSampler.crop` cuts them,
for callers that degrade the whole set first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal

import numpy as np

from hggt.core.training import distributed
from hggt.core.training.data import CropSampler, augment, pad_to

Group = list[np.ndarray]
Sampling = Literal["epochs", "buffer"]


class EpochSampler:
    """Groups of aligned images (``load(i)``: the original and versions of set ``i``, or one HR
    photo) drawn in shuffled epochs. The order of epoch ``e`` comes from ``(seed, e)`` alone and
    is the same on every rank; flips and crops come from one generator seeded ``seed + rank``
    (``rng``, which callers also draw their per-sample choices from). Where the rank's share of an
    epoch is smaller than a batch (a tiny dataset), batches run on into the next epochs instead.
    Decoded groups are kept in an LRU of ``cache``, and the next batch's sets are decoded in
    background threads while the current one trains (the order is known in advance, so this
    changes no draw)."""

    def __init__(
        self, count: int, load: Callable[[int], Group], crop: int, seed: int, dihedral: bool = True, cache: int = 16,
        shard: tuple[int, int] | None = None, prefetch_threads: int = 2,
    ):
        if count <= 0:
            raise ValueError("no sets (or HR images) to train on")
        self.count, self.load, self.crop_size, self.dihedral = count, load, crop, dihedral
        self.rank, self.world = shard or distributed.shard()
        self.seed, self.epoch, self.position = seed, 0, 0
        self.rng = np.random.default_rng(seed + self.rank)
        self.cache = max(1, cache)
        self._groups: OrderedDict[int, Group] = OrderedDict()
        self._pending: dict[int, Future] = {}
        self._pool = ThreadPoolExecutor(prefetch_threads, thread_name_prefix="hggt-decode") if prefetch_threads else None
        self._order_of: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        """This rank's sets of ``epoch``, in the order drawn (EnlargedSampler's padding and stride)."""
        if self._order_of is None or self._order_of[0] != epoch:
            total = -(-self.count // self.world) * self.world
            order = np.random.default_rng([self.seed, epoch]).permutation(total) % self.count
            self._order_of = (epoch, order[self.rank :: self.world])
        return self._order_of[1]

    def _advance(self, n: int, epoch: int, position: int) -> tuple[list[int], int, int]:
        out: list[int] = []
        if len(self.order(epoch)) >= n and position + n > len(self.order(epoch)):
            epoch, position = epoch + 1, 0  # drop_last: the rest of the epoch never makes a batch
        while len(out) < n:
            order = self.order(epoch)
            taken = order[position : position + n - len(out)]
            out += [int(i) for i in taken]
            position += len(taken)
            if position >= len(order):
                epoch, position = epoch + 1, 0
        return out, epoch, position

    def next_indices(self, n: int) -> list[int]:
        """The next ``n`` sets of the epoch order (the state moves on)."""
        out, self.epoch, self.position = self._advance(n, self.epoch, self.position)
        if self._pool is not None:  # the order is fixed: decode the next batch's sets meanwhile
            upcoming, _, _ = self._advance(n, self.epoch, self.position)
            for i in upcoming:
                if i not in self._groups and i not in self._pending:
                    self._pending[i] = self._pool.submit(self._decode, i)
        return out

    def _decode(self, index: int) -> Group:
        return [pad_to(img, self.crop_size) for img in self.load(index)]

    def group(self, index: int) -> Group:
        """Set ``index`` decoded (padded to fit a crop), through the LRU."""
        if index in self._groups:
            self._groups.move_to_end(index)
            return self._groups[index]
        pending = self._pending.pop(index, None)
        group = pending.result() if pending is not None else self._decode(index)
        self._groups[index] = group
        while len(self._groups) > self.cache:
            self._groups.popitem(last=False)
        return group

    def next_sets(self, n: int) -> list[tuple[int, Group]]:
        """The next ``n`` sets, decoded and flipped as a whole (uncropped)."""
        out = []
        for i in self.next_indices(n):
            group, flips = self.group(i), self.rng.random(3) < 0.5
            out.append((i, [augment(img, flips, self.dihedral) for img in group]))
        return out

    def crop(self, sets: list[tuple[int, Group]]) -> list[tuple[int, Group]]:
        """The same random ``crop`` x ``crop`` window of every image of each set."""
        out = []
        for index, group in sets:
            h, w = group[0].shape[:2]
            top = int(self.rng.integers(0, h - self.crop_size + 1))
            left = int(self.rng.integers(0, w - self.crop_size + 1))
            out.append((index, [img[top : top + self.crop_size, left : left + self.crop_size] for img in group]))
        return out

    def sample_groups(self, n: int) -> list[tuple[int, Group]]:
        """n (set index, crops) pairs, as :meth:`CropSampler.sample_groups` gives them."""
        return self.crop(self.next_sets(n))

    def sample(self, n: int) -> np.ndarray:
        """(n, crop, crop, 3) uint8 crops of the first image of each group."""
        return np.stack([crops[0] for _, crops in self.sample_groups(n)])

    def state_dict(self) -> dict:
        return {"sampling": "epochs", "seed": self.seed, "epoch": self.epoch, "position": self.position,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        if state.get("sampling") != "epochs":
            raise ValueError("this checkpoint's data state is not of epoch sampling (train.sampling differs)")
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]
        self.rng.bit_generator.state = state["rng"]
        self._order_of = None


def make_sampler(
    sampling: Sampling, count: int, load: Callable[[int], Group], crop: int, seed: int, *, dihedral: bool, buffer: int,
    refresh_every: int,
) -> EpochSampler | CropSampler:
    """The sampler ``TrainConfig.sampling`` names; ``buffer`` is the LRU of epochs, the buffer of buffer."""
    if sampling == "epochs":
        return EpochSampler(count, load, crop, seed, dihedral, cache=buffer)
    if sampling == "buffer":
        return CropSampler(count, load, crop, buffer, refresh_every, seed, dihedral)
    raise ValueError(f"unknown sampling {sampling!r}; choose epochs or buffer")
