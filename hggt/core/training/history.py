"""A training run's loss curve as a small CSV beside its model (`runs/<id>/losses.csv`,
`enhancers/<v>/losses.csv`): one row per logged iteration. Torch-free, so the report reads it
without loading the training stack."""

from __future__ import annotations

import csv
import io

TERM_NAMES = {"extra": "negative"}  # the trainer's name for the posneg run's negative-GT term, as people read it


def to_csv(rows: list[dict]) -> bytes:
    """Rows of {"iteration": n, loss: value, ...}; a loss missing from a row (a term that starts
    later in training) is left empty."""
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def from_csv(data: bytes) -> list[dict]:
    """The rows of :func:`to_csv`, numbers as numbers, empty cells dropped."""
    rows = []
    for r in csv.DictReader(io.StringIO(data.decode())):
        row = {k: float(v) for k, v in r.items() if k != "iteration" and v not in (None, "")}
        rows.append({"iteration": int(r["iteration"]), **row})
    return rows
