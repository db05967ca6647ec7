"""Per-item randomness: every draw derives from (global seed, stage, item id), never global state,
so sharding, ordering, retries and resumes give identical outputs."""

from __future__ import annotations

import hashlib

import numpy as np


def item_seed_sequence(seed: int, stage: str, item_id: str) -> np.random.SeedSequence:
    digest = hashlib.sha256(f"{stage}\x00{item_id}".encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *words])


def item_rng(seed: int, stage: str, item_id: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(item_seed_sequence(seed, stage, item_id)))
