"""Assignment of sets to annotators, the display order of each set's versions, and the repeated
sets of quality control."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence

from hggt.core.annotation.labels import VERSIONS
from hggt.core.seeding import item_rng


def assign(set_ids: list[str], annotators: list[str], per_set: int, batch_size: int, seed: int,
           first_batch: int = 0, first_position: int = 0) -> list[dict]:
    """Each set goes to ``per_set`` different annotators; loads differ by at most one set.

    Sets are shuffled (seeded) and regrouped into batches of ``batch_size``; within a batch, an
    annotator works in the shuffled order. Round-robin over the annotators gives the balance, so
    sets added to a running campaign (``first_batch``/``first_position`` past the existing ones)
    keep it when ``annotators`` is ordered from the least loaded."""
    if len(set(annotators)) != len(annotators):
        raise ValueError("annotator names must be distinct")
    if per_set > len(annotators):
        raise ValueError(f"each set needs {per_set} different annotators but only {len(annotators)} are named")
    # The first export keeps the stream it always used, so re-running it reproduces its assignments.
    rng = item_rng(seed, "assignment", "sets" if first_position == 0 else f"sets+{first_position}")
    order = [set_ids[i] for i in rng.permutation(len(set_ids))]
    rows, n = [], len(annotators)
    for i, set_id in enumerate(order):
        for j in range(per_set):
            rows.append({"set_id": set_id, "annotator": annotators[(i * per_set + j) % n],
                         "batch": first_batch + i // batch_size, "position": first_position + i})
    return rows


def display_order(set_id: str, seed: int, versions: Sequence[str] = VERSIONS) -> list[str]:
    """The seeded random order in which a set's versions (the paper's four by default) are shown."""
    rng = item_rng(seed, "display-order", set_id)
    return [versions[i] for i in rng.permutation(len(versions))]


def plan_repeats(assignments: list[dict], share: float, gap: int, seed: int,
                 versions: Mapping[str, Sequence[str]] | None = None) -> list[dict]:
    """Sets each annotator sees again, ``gap`` of their sets later (or last), unannounced.

    round(share x their sets) of each annotator's sets are drawn (seeded per annotator); a repeat
    shows the versions in another order than the first time, so the annotator judges the images
    again rather than recognising a pattern of buttons. Its key is what the app addresses it by.
    ``versions``: each set's versions (default: the paper's four)."""
    mine: dict[str, list[dict]] = defaultdict(list)
    for a in assignments:
        mine[a["annotator"]].append(a)
    rows = []
    for annotator, queue in sorted(mine.items()):
        queue.sort(key=lambda a: (a["batch"], a["position"]))
        k = round(share * len(queue))
        if k == 0:
            continue
        # Prefer sets whose repeat can come a full gap later; the queue's tail repeats at its end.
        room = len(queue) - gap if len(queue) - gap >= k else len(queue)
        picks = sorted(item_rng(seed, "repeats", annotator).choice(room, size=k, replace=False).tolist())
        for i in picks:
            anchor = queue[min(i + gap, len(queue) - 1)]
            set_id = queue[i]["set_id"]
            own = (versions or {}).get(set_id, VERSIONS)
            order = display_order(f"{set_id}#repeat#{annotator}", seed, own)
            if order == display_order(set_id, seed, own):
                order = order[1:] + order[:1]
            key = hashlib.sha256(f"{seed}\x00{annotator}\x00{set_id}".encode()).hexdigest()[:16]
            rows.append({"key": key, "set_id": set_id, "annotator": annotator, "batch": anchor["batch"],
                         "position": anchor["position"] + 0.5, "display_order": order})
    return rows
