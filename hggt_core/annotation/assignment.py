"""Assignment of sets to annotators and the display order of each set's versions."""

from __future__ import annotations

from hggt_core.annotation.labels import VERSIONS
from hggt_core.seeding import item_rng


def assign(set_ids: list[str], annotators: list[str], per_set: int, batch_size: int, seed: int) -> list[dict]:
    """Each set goes to ``per_set`` different annotators; loads differ by at most one set.

    Sets are shuffled (seeded) and regrouped into batches of ``batch_size``; within a batch, an
    annotator works in the shuffled order. Round-robin over the annotators gives the balance."""
    if len(set(annotators)) != len(annotators):
        raise ValueError("annotator names must be distinct")
    if per_set > len(annotators):
        raise ValueError(f"each set needs {per_set} different annotators but only {len(annotators)} are named")
    rng = item_rng(seed, "assignment", "sets")
    order = [set_ids[i] for i in rng.permutation(len(set_ids))]
    rows, n = [], len(annotators)
    for position, set_id in enumerate(order):
        for j in range(per_set):
            rows.append({"set_id": set_id, "annotator": annotators[(position * per_set + j) % n],
                         "batch": position // batch_size, "position": position})
    return rows


def display_order(set_id: str, seed: int) -> list[str]:
    """The seeded random order in which a set's four versions are shown."""
    rng = item_rng(seed, "display-order", set_id)
    return [VERSIONS[i] for i in rng.permutation(len(VERSIONS))]
