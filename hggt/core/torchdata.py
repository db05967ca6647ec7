"""Real-ISR training samples of an hggt dataset as a ``torch.utils.data.Dataset``: the one data
path of hggt's own train-sr (through :class:`hggt.core.realisr.SRBatches`) and of other trainers
(traiNNer-redux, BasicSR, a loop of your own).

Each sample is a labelled set (paper Sec. 4-5): the same random GT crop and horizontal flip for
the original and the versions used. The sets and GTs by mode are the authors' dataset classes':
``psnr`` and ``ori`` every set on the split, ``gt`` the original (``PosNegGTOriDataset``);
``pos`` only the sets with at least one Positive, ``gt`` a random positive version P*, never the
original (``PosNegGTPosDataset``); ``posneg`` the usable sets (a Positive or a Negative), ``gt``
P* or the original when a set has none, plus a random negative N* (``neg``) and its indication
map (``map``) (``PosNegGTPosNeg_Dataset``). The positive the map compares N* with is drawn
separately from P* (``map_positive="independent"``, as the authors' model does) or is P* itself
(``"target"``). The LQ input is not made here: it is the ORIGINAL crop (``ori``) degraded on the
fly with the sample's Table 2 ``record`` (:func:`make_lq`), so the degradation can run batched on
the GPU as train-sr does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from hggt.core import storage
from hggt.core.build_record import resolve_for_dataset
from hggt.core.dataset import TRAIN_MODES, open_dataset
from hggt.core.degradation import batched
from hggt.core.degradation.settings import TABLE_2, DegradationRecord, DegradationSettings, sample_record
from hggt.core.images import decode_png
from hggt.core.maps import indication_maps_torch
from hggt.core.seeding import item_rng
from hggt.core.training.data import cut_group, pad_to, place_crop
from hggt.core.training.sampling import Sampling, make_sampler

MODES = TRAIN_MODES
STAGE = "hggt-train-set"
Loader = Callable[[str, list[str]], list[np.ndarray]]


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
    one sample; the original (0 votes) stands in where a set has no positive (ori, psnr; posneg).
    A pos set always has one: the authors' Pos model trains on positives only."""
    positives = entry["positive"] if mode in ("pos", "posneg") else []
    if mode == "pos" and not positives:
        raise ValueError(f"set {entry.get('set_id')} has no positive version: pos mode trains only on sets with one")
    negatives = entry["negative"] if mode == "posneg" else []
    draw = lambda versions: versions[int(rng.integers(len(versions)))] if versions else ("original", 0)  # noqa: E731
    target = draw(positives)
    if not negatives:
        return target, target, None
    pick = draw(positives) if map_positive == "independent" else target
    return target, pick, draw(negatives)


class url_loader:  # noqa: N801 - used as a function; a class so that DataLoader workers started by spawn can pickle it
    """``load(set_id, files)`` decoding a set's images from their URLs (``{set_id: {file: url}}``)."""

    def __init__(self, images: dict[str, dict[str, str]]):
        self.images = images

    def __call__(self, set_id: str, files: list[str]) -> list[np.ndarray]:
        return [decode_png(storage.read_bytes(self.images[set_id][f])) for f in files]


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 as 3 x H x W float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0


class HGGTTrainSet(Dataset):
    """``HGGTTrainSet(root, mode, split="train", gt_size=256)``: one item per set of the mode
    (``psnr``/``ori``: every set on ``split``; ``pos``: those with a positive; ``posneg``: the
    usable ones), each a dict of ``gt`` and ``ori`` (3 x gt_size x gt_size float in [0, 1]),
    ``record`` (the Table 2 degradation record, a dict of the record columns), ``set_id``,
    ``gt_version``, ``top``, ``left``, ``hflip``; in ``posneg`` also ``neg`` (zeros without a
    negative), ``map`` (1 x gt_size x gt_size, M_ind; zeros without a negative), ``has_neg``,
    ``neg_version`` and ``map_pos_version``. Every random draw of item ``i`` comes from (seed, epoch, i), so items
    do not depend on the order they are read in or on DataLoader workers; ``set_epoch`` gives
    new crops and draws each epoch. Images are decoded on every read, as BasicSR's datasets do;
    :meth:`stream` is train-sr's sampling (shuffled epochs, or a buffer of decoded sets).
    ``settings``, ``map_positive`` and ``ksize`` default to those of the dataset's recorded build
    (:mod:`hggt.core.build_record`), so the items are what ``hggt train-sr`` trains on there."""

    def __init__(
        self, root: str, mode: str, split: str | None = "train", gt_size: int = 256, *, seed: int = 0,
        settings: DegradationSettings | None = None, map_positive: str | None = None, ksize: int | None = None,
    ):
        ds = open_dataset(root)
        sets, images = ds.training_sets(mode, split)
        # What train-sr uses on this dataset: the config of its recorded build (hggt.core.build_record)
        cfg = resolve_for_dataset(ds.root, None, None, None)[0]
        settings = settings if settings is not None else cfg.degrade.table_2
        map_positive = map_positive or cfg.train_sr.map_positive
        self._setup(sets, url_loader(images), mode, gt_size, seed, settings, map_positive, ksize or cfg.maps.ksize)

    @classmethod
    def from_sets(
        cls, sets: list[dict], load: Loader, mode: str, gt_size: int = 256, *, seed: int = 0,
        settings: DegradationSettings = TABLE_2, map_positive: str = "independent", ksize: int = 3,
    ) -> HGGTTrainSet:
        """From planned sets (:meth:`hggt.core.dataset.HGGTDataset.training_sets`) and a loader."""
        self = cls.__new__(cls)
        self._setup(sets, load, mode, gt_size, seed, settings, map_positive, ksize)
        return self

    def _setup(self, sets, load, mode, gt_size, seed, settings, map_positive, ksize) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
        if map_positive not in ("independent", "target"):
            raise ValueError(f"map_positive must be 'independent' or 'target', not {map_positive!r}")
        self.sets, self.load, self.mode, self.gt_size, self.seed = sets, load, mode, gt_size, seed
        self.settings, self.map_positive, self.ksize, self.epoch = settings, map_positive, ksize, 0
        self.files = [set_files(s, mode) for s in sets]

    def __len__(self) -> int:
        return len(self.sets)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def load_group(self, index: int) -> list[np.ndarray]:
        """The decoded images of set ``index``, in the order of ``self.files[index]``."""
        return self.load(self.sets[index]["set_id"], self.files[index])

    def draw(self, picks: list[tuple[int, list[np.ndarray]]], rng: np.random.Generator, records: bool = True) -> list[dict]:
        """Samples from cropped sets ``(index, crops)``: every sample's versions, then every
        sample's degradation record, all from ``rng`` (train-sr's order of draws). Crops stay
        H x W x 3 uint8; ``neg`` is None without a negative. ``records=False``: no records (the
        batch synthesis draws its own, :mod:`hggt.core.degradation.batch_synthesis`)."""
        out = []
        for index, crops in picks:
            crop = dict(zip(self.files[index], crops))
            target, pick, negative = draw_versions(self.sets[index], self.mode, self.map_positive, rng)
            out.append({
                "set_id": self.sets[index]["set_id"], "ori": crop["original"], "gt": crop[target[0]], "gt_version": target[0],
                "map_pos": crop[pick[0]], "map_pos_version": pick[0], "n_pos": pick[1], "has_pos": pick[0] != "original",
                "neg": crop[negative[0]] if negative else None, "neg_version": negative[0] if negative else "",
                "n_neg": negative[1] if negative else 0,
            })
        for sample in out if records else ():
            sample["record"] = sample_record(self.settings, rng)
        return out

    def to_item(self, sample: dict) -> dict:
        """A drawn sample as the dict the Dataset yields (tensors; the map computed for the crop)."""
        item = {"gt": to_tensor(sample["gt"]), "ori": to_tensor(sample["ori"]), "record": sample["record"].as_row(),
                "set_id": sample["set_id"], "gt_version": sample["gt_version"]}
        if self.mode != "posneg":
            return item
        has_neg = sample["neg"] is not None
        neg = to_tensor(sample["neg"]) if has_neg else torch.zeros_like(item["gt"])
        m_ind = torch.zeros(1, *item["gt"].shape[1:])
        if has_neg:
            _, _, maps = indication_maps_torch(
                item["ori"][None], to_tensor(sample["map_pos"])[None], neg[None], torch.tensor([sample["n_pos"]]),
                torch.tensor([sample["n_neg"]]), torch.tensor([sample["has_pos"]]), self.ksize,
            )
            m_ind = maps[0]
        return {**item, "neg": neg, "map": m_ind, "has_neg": float(has_neg), "neg_version": sample["neg_version"],
                "map_pos_version": sample["map_pos_version"]}

    def __getitem__(self, index: int) -> dict:
        rng = item_rng(self.seed, STAGE, f"{self.epoch}/{index}")
        group = [pad_to(img, self.gt_size) for img in self.load_group(index)]
        top, left, flips = place_crop(group[0].shape, self.gt_size, rng)
        crops = cut_group(group, self.gt_size, top, left, flips, dihedral=False)
        item = self.to_item(self.draw([(index, crops)], rng)[0])
        return {**item, "top": top, "left": left, "hflip": bool(flips[0])}

    def stream(self, seed: int, buffer: int = 16, refresh_every: int = 1, sampling: Sampling = "epochs") -> SampleStream:
        """train-sr's sampling of this dataset (what ``hggt train-sr`` trains on for that seed)."""
        return SampleStream(self, seed, buffer, refresh_every, sampling)


class SampleStream:
    """Samples drawn as train-sr draws them: sets in shuffled epochs, each once per epoch and a
    batch of distinct ones (:class:`~hggt.core.training.sampling.EpochSampler`, the authors'),
    or from a buffer of ``buffer`` decoded sets that refreshes one slot every ``refresh_every``
    batches, with replacement (``sampling="buffer"``); per batch, all crops, then every sample's
    versions, then every sample's record, from one seeded generator whose state (with the epoch
    position or the buffer) is the resumable ``state_dict``. Flips are horizontal only, as the
    authors' Real-ISR configs set (``use_hflip: True``, ``use_rot: False``)."""

    def __init__(self, dataset: HGGTTrainSet, seed: int, buffer: int, refresh_every: int, sampling: Sampling = "epochs"):
        self.dataset = dataset
        self.sampler = make_sampler(sampling, len(dataset), dataset.load_group, dataset.gt_size, seed, dihedral=False,
                                    buffer=buffer, refresh_every=refresh_every)

    def next(self, n: int) -> list[dict]:
        """``n`` samples as :meth:`HGGTTrainSet.draw` gives them (``dataset.to_item`` makes items)."""
        return self.dataset.draw(self.sampler.sample_groups(n), self.sampler.rng)

    def next_whole(self, n: int) -> list[dict]:
        """``n`` samples of whole (flipped, uncropped) sets, their versions drawn, no records: what
        the authors' batch synthesis degrades before it crops (train-sr's ``paper`` path)."""
        return self.dataset.draw(self.sampler.next_sets(n), self.sampler.rng, records=False)

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)


def records(batch_record: dict) -> list[DegradationRecord]:
    """The degradation records of a collated batch (``batch["record"]``, as DataLoader stacks them)."""
    n = len(next(iter(batch_record.values())))
    value = lambda v, i: v[i].item() if isinstance(v, torch.Tensor) else v[i]  # noqa: E731
    return [DegradationRecord.from_row({k: value(v, i) for k, v in batch_record.items()}) for i in range(n)]


def make_lq(batch: dict, scale: int = 4) -> torch.Tensor:
    """The LQ inputs of a collated batch: each ``ori`` degraded with its record, then downscaled by
    ``scale`` (Table 2's final resize), on the device ``batch["ori"]`` is on."""
    ori = batch["ori"]
    size = (ori.shape[-2] // scale, ori.shape[-1] // scale)
    with torch.no_grad():
        return batched.degrade(ori, records(batch["record"]), target=size)
